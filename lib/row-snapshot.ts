import type { Model, ModelStatic } from 'sequelize';
import { defineOwnValue } from './own-value';

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
 * The copy is built by the model's constructor with the row's values, as Sequelize builds every
 * row (so `#private` fields, class fields and whatever the class sets up there belong to the
 * copy), then takes the own properties of the row that the constructor did not make (loaded
 * associations, say), defined rather than assigned so that no setter runs. Its values, previous
 * values and changed keys are its own: it keeps what `changed()` and `previous()` report. Values
 * are copied one level deep, dates included; objects inside values (a JSON column's object, an
 * array) and loaded associations are shared. A deep copy would cost a write with a large JSON
 * column more than the write itself, and would turn values such as `sequelize.fn()` into plain
 * objects.
 */
export function snapshotRow<M extends Model>(instance: M): M {
  const model = instance.constructor as ModelStatic<M>;
  const source = instance as unknown as RowInternals & Record<PropertyKey, unknown>;
  const values = copyValues(source.dataValues);
  const built = model.build(values as never, { isNewRecord: instance.isNewRecord, raw: true });
  const copy = built as unknown as RowInternals & Record<PropertyKey, unknown>;
  for (const key of ownKeys(source)) {
    if (!Object.prototype.hasOwnProperty.call(copy, key)) {
      defineOwnValue(copy, key, source[key]);
    }
  }
  copy.dataValues = values;
  if (source._previousDataValues !== undefined) {
    copy._previousDataValues = copyValues(source._previousDataValues);
  }
  copy._changed = new Set(source._changed);
  return copy as unknown as M;
}

/** The enumerable own keys of an object, symbols included, as `Object.assign` copies them. */
function ownKeys(object: object): PropertyKey[] {
  const symbols = Object.getOwnPropertySymbols(object);
  if (symbols.length === 0) return Object.keys(object);
  const enumerable = symbols.filter((symbol) =>
    Object.prototype.propertyIsEnumerable.call(object, symbol),
  );
  return [...Object.keys(object), ...enumerable];
}

function copyValues(values: Record<string, unknown>): Record<string, unknown> {
  const copy = { ...values };
  for (const key of Object.keys(copy)) {
    const value = copy[key];
    if (value instanceof Date && value.constructor === Date) copy[key] = new Date(value.getTime());
  }
  return copy;
}
