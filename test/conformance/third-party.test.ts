// A broker and a result backend shipped as a third party would ship them (third-party/my-transport.ts),
// registered under their own schemes with registerBroker / registerBackend: each passes the same
// conformance suite as the built-in ones, through `celeriac/testing`, and an app on
// mytransport:// + myresults:// runs a task end to end on a worker.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, createApp, createWorker, registerBackend, registerBroker } from "../../src/index.ts";
import { createBackendFor, createBrokerFor, describeBackendConformance, describeBrokerConformance } from "../../src/testing/index.ts";
import { MyResultsBackend, MyTransportBroker } from "./third-party/my-transport.ts";

const unregisterBroker = registerBroker("mytransport", (url, options) => new MyTransportBroker(url, options));
// A factory may be async, e.g. to import its client library lazily.
const unregisterBackend = registerBackend("myresults://", async (url, options) => new MyResultsBackend(url, options.resultExpiresSeconds));
after(() => {
  unregisterBroker();
  unregisterBackend();
});

describeBrokerConformance("third party mytransport://", {
  create: () => createBrokerFor("mytransport://conformance"),
  priorityOrder: "lower-first",
  persistent: false,
});

describeBackendConformance("third party myresults://", { create: () => createBackendFor("myresults://conformance") });

describe("an app on a registered broker and backend", () => {
  test("runs a task end to end on mytransport:// with results in myresults://", async () => {
    const app = createApp({ brokerUrl: "mytransport://app", resultBackend: "myresults://app", readEnv: false });
    const add = app.task("plugin.add", (x: number, y: number) => x + y);
    const worker = createWorker(app);
    try {
      await worker.start();
      const result = await add.delay(2, 3);
      assert.equal(await result.get({ timeout: 5 }), 5);
      assert.ok((await app.getBroker()) instanceof MyTransportBroker, "(await app.getBroker()) instanceof MyTransportBroker");
      assert.ok((await app.getBackend()) instanceof MyResultsBackend, "(await app.getBackend()) instanceof MyResultsBackend");
      assert.equal(worker.stats.succeeded, 1);
    } finally {
      await worker.stop();
      await app.close();
    }
  });

  test("a taken or malformed scheme is refused; an unknown one names the registered schemes", async () => {
    const configError = (pattern: RegExp) => (error: unknown) => error instanceof ConfigError && pattern.test(error.message);
    assert.throws(() => registerBroker("mytransport", (url, options) => new MyTransportBroker(url, options)), configError(/"mytransport:\/\/": the scheme is taken \(registered earlier\)/));
    assert.throws(() => registerBroker("REDIS", (url, options) => new MyTransportBroker(url, options)), configError(/"redis:\/\/": the scheme is taken \(built in\)/));
    assert.throws(() => registerBackend("my results", async (url) => new MyResultsBackend(url, 60)), configError(/"my results" is not a URL scheme/));
    const app = createApp({ brokerUrl: "nosuch://x", readEnv: false });
    await assert.rejects(app.getBroker(), configError(/brokerUrl: no broker for "nosuch:\/\/" URLs; expected one of memory:\/\/, .*, mytransport:\/\/ \(or register one: docs\/plugins\.md\)/));
    await app.close();
    // Unregistered, the scheme is free again (and unknown).
    const unregister = registerBroker("mytransport2", (url, options) => new MyTransportBroker(url, options));
    unregister();
    await assert.rejects(createBrokerFor("mytransport2://x"), configError(/no broker for "mytransport2:\/\/"/));
  });
});
