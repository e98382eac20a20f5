import type { Model, ModelStatic } from 'sequelize';

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
 * The copy is an instance of the same model with the same values (loaded associations are shared,
 * not copied) and keeps what `changed()` and `previous()` report.
 */
export function snapshotRow<M extends Model>(instance: M): M {
  const model = instance.constructor as ModelStatic<M>;
  const source = instance as unknown as RowInternals;
  const copy = model.build({ ...source.dataValues } as never, { isNewRecord: false, raw: true });
  const target = copy as unknown as RowInternals;
  if (source._previousDataValues !== undefined) {
    target._previousDataValues = { ...source._previousDataValues };
  }
  if (source._changed instanceof Set) target._changed = new Set(source._changed);
  return copy;
}
