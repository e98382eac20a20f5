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
 * The copy is built by the model's constructor (so `#private` fields and whatever the class sets
 * up there exist), then takes the row's own properties (loaded associations, the row's options),
 * none of them through an attribute's setter, with values, previous values and changed keys of its
 * own: it keeps what `changed()` and `previous()` report. Values are copied one level deep, dates
 * included; objects inside values (a JSON column's object, an array) and loaded associations are
 * shared. A deep copy would cost a write with a large JSON column more than the write itself, and
 * would turn values such as `sequelize.fn()` into plain objects.
 */
export function snapshotRow<M extends Model>(instance: M): M {
  const model = instance.constructor as ModelStatic<M>;
  const source = instance as unknown as RowInternals & Record<PropertyKey, unknown>;
  const copy = model.build({} as never, {
    isNewRecord: false,
    raw: true,
  }) as unknown as RowInternals & Record<PropertyKey, unknown>;
  const proto = Object.getPrototypeOf(instance) as object;
  for (const key of ownKeys(source)) {
    // Over an attribute's accessor (a class field does that), assigning would run its setter.
    if (key in proto) Object.defineProperty(copy, key, ownValue(source[key]));
    else copy[key] = source[key];
  }
  copy.dataValues = copyValues(source.dataValues);
  if (source._previousDataValues !== undefined) {
    copy._previousDataValues = copyValues(source._previousDataValues);
  }
  if (source._changed instanceof Set) copy._changed = new Set(source._changed);
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

function ownValue(value: unknown): PropertyDescriptor {
  return { value, writable: true, enumerable: true, configurable: true };
}

function copyValues(values: Record<string, unknown>): Record<string, unknown> {
  const copy = { ...values };
  for (const key of Object.keys(copy)) {
    const value = copy[key];
    if (value instanceof Date && value.constructor === Date) copy[key] = new Date(value.getTime());
  }
  return copy;
}
