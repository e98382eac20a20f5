import path from 'node:path';
import express from 'express';
import { acceptsTurboStream, turboStreams, type Broker } from 'turbo-express';
import { authorKey, Message, Room } from './models';
import { currentUser, signIn, signOut } from './session';

export interface ChatOptions {
  /** Signs stream names and the sign-in cookie. */
  secret: string;
  /** A broker shared by several processes; the in-process one when absent. */
  broker?: Broker;
}

const NOT_YOURS = 'Only the author of a message can edit or delete it';

/** The chat: rooms, messages, and live updates to every page open on a room. */
export function createChatApp({ secret, broker }: ChatOptions) {
  const app = express();
  app.set('views', path.join(__dirname, 'views'));
  app.set('view engine', 'pug');
  app.use(express.urlencoded({ extended: false }));

  const turbo = turboStreams({
    secret,
    broker,
    views: path.join(__dirname, 'views'),
    discover: __dirname,
    currentUser: (req) => currentUser(req, secret),
  });
  app.use(turbo);

  const turboScript = require.resolve('@hotwired/turbo/dist/turbo.es2017-esm.js');
  app.get('/assets/turbo.js', (_req, res) => res.sendFile(turboScript));

  app.use((req, res, next) => {
    res.locals.user = currentUser(req, secret);
    next();
  });

  app.get('/login', (_req, res) => res.render('login'));
  app.post('/login', (req, res) => {
    const name = String(req.body.name ?? '')
      .trim()
      .slice(0, 40);
    if (name === '') return res.status(422).render('login', { error: 'Pick a name' });
    signIn(res, name, secret);
    res.redirect(303, '/');
  });
  app.post('/logout', (_req, res) => {
    signOut(res);
    res.redirect(303, '/login');
  });

  app.use((_req, res, next) => (res.locals.user ? next() : res.redirect('/login')));

  app.get('/', async (_req, res) => {
    res.render('rooms/index', { rooms: await Room.findAll({ order: [['id', 'ASC']] }) });
  });

  app.get('/rooms/:id', async (req, res) => {
    const room = await Room.findByPk(req.params.id);
    if (room === null) return res.status(404).send('No such room');
    const messages = await Message.findAll({ where: { roomId: room.id }, order: [['id', 'ASC']] });
    res.render('rooms/show', { room, messages, ownKey: authorKey(res.locals.user) });
  });

  app.post('/rooms/:id/messages', async (req, res) => {
    const room = await Room.findByPk(req.params.id);
    if (room === null) return res.status(404).send('No such room');
    const body = String(req.body.body ?? '').trim();
    if (body !== '') await Message.create({ roomId: room.id, body, author: res.locals.user });
    // The new message reaches every page, this one included, through the room's stream;
    // the response only resets the form.
    if (acceptsTurboStream(req)) {
      return res.turboStream.replace('chat/form', { room }, { target: 'new_message' }).send();
    }
    res.redirect(303, `/rooms/${room.id}`);
  });

  app.post('/messages/:id', async (req, res) => {
    const message = await Message.findByPk(req.params.id);
    if (message === null) return res.status(404).send('No such message');
    if (message.author !== res.locals.user) return res.status(403).send(NOT_YOURS);
    const body = String(req.body.body ?? '').trim();
    if (body !== '') await message.update({ body });
    if (acceptsTurboStream(req)) return res.turboStream.send();
    res.redirect(303, `/rooms/${message.roomId}`);
  });

  app.post('/messages/:id/delete', async (req, res) => {
    const message = await Message.findByPk(req.params.id);
    if (message !== null && message.author !== res.locals.user) {
      return res.status(403).send(NOT_YOURS);
    }
    if (message !== null) await message.destroy();
    if (acceptsTurboStream(req)) return res.turboStream.send();
    res.redirect(303, message ? `/rooms/${message.roomId}` : '/');
  });

  return { app, turbo };
}
