import path from 'node:path';

/**
 * The folder holding turbo-express's own Pug mixins. Include `turbo.pug` from it to get the
 * `+turboStreamFrom(source)` mixin, for example with Pug's `basedir` or a relative path:
 * `include ../node_modules/turbo-express/views/turbo`.
 */
export const viewsPath: string = path.resolve(__dirname, '..', 'views');
