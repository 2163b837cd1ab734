// The layering of src/, checked in CI: util <- protocol <- connection <- broker, backend <- app <-
// worker, monitor, testing <- cli. A module may import only from its own layer or the layers below,
// and no import cycles are allowed anywhere.
const layers = {
  util: ["util"],
  protocol: ["util", "protocol"],
  connection: ["util", "protocol", "connection"],
  broker: ["util", "protocol", "connection", "broker"],
  backend: ["util", "protocol", "connection", "backend"],
  app: ["util", "protocol", "connection", "broker", "backend", "app"],
  worker: ["util", "protocol", "connection", "broker", "backend", "app", "worker"],
  monitor: ["util", "protocol", "app", "monitor"],
  testing: ["util", "protocol", "broker", "backend", "app", "worker", "testing"],
  cli: ["util", "protocol", "broker", "backend", "app", "worker", "monitor", "cli"],
};

const forbidden = [
  { name: "no-circular", severity: "error", comment: "import cycles make the layering meaningless", from: {}, to: { circular: true } },
  ...Object.entries(layers).map(([layer, allowed]) => ({
    name: `layer-${layer}`,
    severity: "error",
    comment: `src/${layer} may import only from ${allowed.join(", ")}`,
    from: { path: `^src/${layer}/` },
    to: { path: "^src/", pathNot: [`^src/(${allowed.join("|")})/`, "^src/index\\.ts$"] },
  })),
];

module.exports = {
  forbidden,
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "\\.test\\.ts$|test-helper" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
  },
};
