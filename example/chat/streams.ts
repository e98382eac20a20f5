import type { Request } from 'express';
import { ModelStream } from 'turbo-express';
import { Message, Room } from './models';

/** Pages showing a room subscribe to its stream; only signed-in people may. */
export class RoomStream extends ModelStream<Room> {
  static override model = Room;

  override userPassesTest(user: string | undefined, _req: Request): boolean {
    return user !== undefined;
  }
}

/** Sends each new, edited or deleted message to the pages of its room. */
export class MessageStream extends ModelStream<Message> {
  static override model = Message;

  override async onSave(message: Message, created: boolean): Promise<void> {
    const room = await message.getRoom();
    if (created) {
      await room.stream.append('chat/message', { message }, { target: 'messages' });
    } else {
      await room.stream.replace('chat/message', { message }, { target: `message-${message.id}` });
    }
  }

  override async onDelete(message: Message): Promise<void> {
    const room = await Room.findByPk(message.roomId);
    await room?.stream.remove({ target: `message-${message.id}` });
  }
}
