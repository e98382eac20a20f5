/**
 * Makes `value` an own, enumerable, writable property of `object`, defined rather than assigned:
 * no setter runs, inherited or not, as one on a prototype would for an assignment.
 */
export function defineOwnValue(object: object, key: PropertyKey, value: unknown): void {
  Object.defineProperty(object, key, {
    value,
    writable: true,
    enumerable: true,
    configurable: true,
  });
}
