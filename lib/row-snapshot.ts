import type { Model } from 'sequelize';

interface RowInternals {
  dataValues: Record<string, unknown>;
  _previousDataValues?: Record<string, unknown>;
  _changed?: Set<string>;
}

/**
 * A copy of a row as it is now, for a hook that runs later: after COMMIT, by which time the code
 * that wrote may have changed the same instance again (a later update, a rolled-back savepoint).
 * Broadcasting the live instance would send values that were never committed.
 *
 * The copy is an object of the same model (same prototype and own properties) with values, previous
 * values and changed keys of its own, so it keeps what `changed()` and `previous()` report; loaded
 * associations are shared, not copied. It is made without the model's constructor, which costs
 * ten times as much for a row Sequelize has already built.
 */
export function snapshotRow<M extends Model>(instance: M): M {
  const source = instance as unknown as RowInternals;
  const copy = Object.assign(
    Object.create(Object.getPrototypeOf(instance)),
    instance,
  ) as RowInternals;
  copy.dataValues = { ...source.dataValues };
  if (source._previousDataValues !== undefined) {
    copy._previousDataValues = { ...source._previousDataValues };
  }
  if (source._changed instanceof Set) copy._changed = new Set(source._changed);
  return copy as unknown as M;
}
