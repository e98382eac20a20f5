import path from 'node:path';
import { expect } from 'chai';
import { ErrorCodes, TurboExpressError } from '../lib';
import { Renderer } from '../lib/render';

const views = path.join(__dirname, 'fixtures', 'views');

describe('Renderer', () => {
  it('renders a partial by name relative to the views folder', () => {
    const renderer = new Renderer(views);
    expect(renderer.render('widgets/label', { label: 'Hi' })).to.equal(
      '<span class="label">Hi</span>',
    );
  });

  it('escapes interpolated values by default', () => {
    const renderer = new Renderer(views);
    expect(renderer.render('widgets/label', { label: '<script>x</script>' })).to.equal(
      '<span class="label">&lt;script&gt;x&lt;/script&gt;</span>',
    );
  });

  it('compiles a partial once and reuses it', () => {
    const renderer = new Renderer(views);
    const first = (renderer as unknown as { compiled: Map<string, unknown> }).compiled;
    renderer.render('widgets/label', { label: 'a' });
    const compiled = first.get('widgets/label');
    renderer.render('widgets/label', { label: 'b' });
    expect(first.get('widgets/label')).to.equal(compiled);
    expect(first.size).to.equal(1);
  });

  it('compiles one file once whatever name reaches it', () => {
    const renderer = new Renderer(views);
    const byFile = (renderer as unknown as { byFile: Map<string, unknown> }).byFile;
    for (const name of ['widgets/label', 'widgets/label.pug', './widgets/label']) {
      expect(renderer.render(name, { label: 'x' })).to.equal('<span class="label">x</span>');
    }
    expect(byFile.size).to.equal(1);
  });

  it('throws TEMPLATE_NOT_FOUND naming the partial and the folder', () => {
    const renderer = new Renderer(views);
    expect(() => renderer.render('widgets/missing', {}))
      .to.throw(TurboExpressError, /No partial "widgets\/missing"/)
      .with.property('code', ErrorCodes.TEMPLATE_NOT_FOUND);
  });

  it('refuses a partial name that leaves the views folder', () => {
    const renderer = new Renderer(views);
    expect(() => renderer.render('../support/chat-app', {}))
      .to.throw()
      .with.property('code', ErrorCodes.TEMPLATE_NOT_FOUND);
  });

  it('throws RENDER_FAILED with the partial when it throws', () => {
    const renderer = new Renderer(views);
    expect(() => renderer.render('widgets/throws', {}))
      .to.throw(/partial exploded/)
      .with.property('template', 'widgets/throws');
  });
});
