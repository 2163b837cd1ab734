// The conformance fixtures, where the project's tests have always imported them from; they live in
// src/testing/ so that third-party brokers and backends run the same suites (celeriac/testing).
export * from "../../src/testing/fixtures.ts";
