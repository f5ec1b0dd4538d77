//! Freezing the realm: after this runs, the global object and every
//! built-in reachable from it (constructors, prototypes, hidden intrinsics
//! such as iterator and generator prototypes) are frozen, so an expression
//! cannot leave anything behind for the next one.

/// Trusted setup code, run once per runtime before any expression.
pub(crate) const FREEZE: &str = r#"
(function () {
  "use strict";
  const seen = new Set();
  const pending = [globalThis];
  const hidden = [
    Object.getPrototypeOf(function* () {}),
    Object.getPrototypeOf(async function () {}),
    Object.getPrototypeOf(async function* () {}),
    Object.getPrototypeOf([][Symbol.iterator]()),
    Object.getPrototypeOf(new Map()[Symbol.iterator]()),
    Object.getPrototypeOf(new Set()[Symbol.iterator]()),
    Object.getPrototypeOf(''[Symbol.iterator]()),
    Object.getPrototypeOf(/a/[Symbol.matchAll]('')),
    Object.getPrototypeOf((function* () {})()),
    Object.getPrototypeOf(Int8Array),
  ];
  for (const h of hidden) pending.push(h);
  while (pending.length > 0) {
    const o = pending.pop();
    if (o === null || (typeof o !== 'object' && typeof o !== 'function') || seen.has(o)) continue;
    seen.add(o);
    for (const key of Reflect.ownKeys(o)) {
      const d = Object.getOwnPropertyDescriptor(o, key);
      if (d === undefined) continue;
      if ('value' in d) pending.push(d.value);
      if (d.get) pending.push(d.get);
      if (d.set) pending.push(d.set);
    }
    pending.push(Object.getPrototypeOf(o));
    Object.freeze(o);
  }
})();
"#;
