import { test } from "node:test";
import assert from "node:assert/strict";
import { SharedResources } from "./shared-lease.ts";

test("one resource per key, created by the first lease and closed by the last release", async () => {
  const closed: string[] = [];
  let made = 0;
  const pool = new SharedResources<string>(async (resource) => void closed.push(resource));
  const a = pool.lease("k", () => `r${++made}`);
  const b = pool.lease("k", () => `r${++made}`);
  assert.equal(a.resource, "r1");
  assert.equal(b.resource, "r1");
  await a.release();
  await a.release(); // a second release of the same lease counts once
  assert.deepEqual(closed, []);
  await b.release();
  assert.deepEqual(closed, ["r1"]);
  const c = pool.lease("k", () => `r${++made}`);
  assert.equal(c.resource, "r2", "a key whose last holder left gets a fresh resource");
  await c.release();
});

test("a resource that is no longer usable is not lent again; its holders keep it until they release it", async () => {
  const closed: string[] = [];
  const dead = new Set<string>();
  let made = 0;
  const pool = new SharedResources<string>(async (resource) => void closed.push(resource), (resource) => !dead.has(resource));
  const a = pool.lease("k", () => `r${++made}`);
  dead.add(a.resource);
  const b = pool.lease("k", () => `r${++made}`);
  assert.equal(b.resource, "r2", "a fresh one replaces the dead one");
  const c = pool.lease("k", () => `r${++made}`);
  assert.equal(c.resource, "r2");
  await a.release();
  assert.deepEqual(closed, ["r1"], "the dead one closes with its last holder");
  await b.release();
  await c.release();
  assert.deepEqual(closed, ["r1", "r2"]);
});
