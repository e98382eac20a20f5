import type { Model, ModelStatic } from 'sequelize';

interface RowInternals {
  dataValues: Record<string, unknown>;
  _previousDataValues?: Record<string, unknown>;
  _changed?: Set<string>;
}

/**
 * A copy of a row as it is now, for a hook that runs later: after COMMIT, by which time the code
 * that wrote may have changed the same instance again (a later update, a rolled-back savepoint,
 * a JSON column's object changed in place). Broadcasting the live instance would send values that
 * were never committed.
 *
 * The copy is an object of the same model (same prototype, same own properties, none of them
 * through an attribute's setter) with values, previous values and changed keys
 * of its own, so it keeps what `changed()` and `previous()` report. Dates and the values of JSON
 * columns are copied too; loaded associations are shared. It is made without the model's
 * constructor, which costs several times as much for a row Sequelize has already built.
 */
export function snapshotRow<M extends Model>(instance: M): M {
  const source = instance as unknown as RowInternals & Record<string, unknown>;
  const proto = Object.getPrototypeOf(instance) as object;
  const copy = Object.create(proto) as RowInternals & Record<string, unknown>;
  for (const key of Object.keys(source)) {
    // Over an attribute's accessor (a class field does that), assigning would run its setter.
    if (key in proto) Object.defineProperty(copy, key, ownValue(source[key]));
    else copy[key] = source[key];
  }
  const model = instance.constructor as ModelStatic<M>;
  copy.dataValues = copyValues(model, source.dataValues);
  if (source._previousDataValues !== undefined) {
    copy._previousDataValues = copyValues(model, source._previousDataValues);
  }
  if (source._changed instanceof Set) copy._changed = new Set(source._changed);
  return copy as unknown as M;
}

function ownValue(value: unknown): PropertyDescriptor {
  return { value, writable: true, enumerable: true, configurable: true };
}

/** The JSON and JSONB attributes of each model, whose values may be changed in place. */
const jsonAttributes = new WeakMap<object, ReadonlySet<string>>();

function jsonAttributesOf(model: ModelStatic<Model>): ReadonlySet<string> {
  let names = jsonAttributes.get(model);
  if (names === undefined) {
    const attributes = (model.getAttributes?.() ?? {}) as Record<string, { type?: unknown }>;
    names = new Set(
      Object.keys(attributes).filter((name) => {
        const key = (attributes[name].type as { key?: unknown } | undefined)?.key;
        return key === 'JSON' || key === 'JSONB';
      }),
    );
    jsonAttributes.set(model, names);
  }
  return names;
}

function copyValues(
  model: ModelStatic<Model>,
  values: Record<string, unknown>,
): Record<string, unknown> {
  const copy = { ...values };
  const json = jsonAttributesOf(model);
  for (const key of Object.keys(copy)) {
    const value = copy[key];
    if (value instanceof Date) copy[key] = new Date(value.getTime());
    else if (json.has(key) && value !== null && typeof value === 'object') {
      copy[key] = cloneJson(value);
    }
  }
  return copy;
}

/** A deep copy of a JSON column's value; one that cannot be cloned (a function in it) is shared. */
function cloneJson(value: object): unknown {
  try {
    return structuredClone(value);
  } catch {
    return value;
  }
}
