// Tests codecs.ts: the content-type allow list, the size limit, and the serializer dispatch.

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  decodeBody,
  encodeBody,
  JSON_CONTENT_TYPE,
  MSGPACK_CONTENT_TYPE,
  PICKLE_CONTENT_TYPE,
  serializerFor,
  YAML_CONTENT_TYPE,
  type DecodeOptions,
} from "./codecs.ts";
import type { Serializer } from "./message.ts";
import { loadFixture, type Json, isCode } from "./fixtures.test-helper.ts";

const OPTS: DecodeOptions = { accept: ["json", "msgpack"], maxBytes: 1024 };

test("serializerFor knows kombu's MIME names, with parameters after application/json", () => {
  assert.equal(serializerFor(JSON_CONTENT_TYPE), "json");
  assert.equal(serializerFor("application/json; charset=utf-8"), "json");
  assert.equal(serializerFor("Application/JSON ;charset=UTF-8"), "json");
  assert.equal(serializerFor(MSGPACK_CONTENT_TYPE), "msgpack");
  for (const other of [PICKLE_CONTENT_TYPE, YAML_CONTENT_TYPE, "application/data", "text/plain", "", "application/jsonx"]) {
    assert.equal(serializerFor(other), null, other);
  }
});

test("encodeBody labels bodies as kombu does", () => {
  const json = encodeBody([[2, 3], {}, null], "json");
  assert.equal(json.contentType, "application/json");
  assert.equal(json.contentEncoding, "utf-8");
  assert.equal(Buffer.from(json.body).toString(), "[[2,3],{},null]");
  const packed = encodeBody([[2, 3], {}, null], "msgpack");
  assert.equal(packed.contentType, "application/x-msgpack");
  assert.equal(packed.contentEncoding, "binary");
  assert.deepEqual(decodeBody(packed.body, packed.contentType, OPTS), [[2, 3], {}, null]);
  assert.throws(() => encodeBody(1, "pickle" as Serializer), isCode("ENCODE_ERROR"));
});

test("bytes in JSON are an ENCODE_ERROR, as kombu's EncodeError (echo-bytes-json-error)", () => {
  const fixture = loadFixture("redis-broker/echo-bytes-json-error.json");
  assert.deepEqual(fixture.entries, []); // Celery published nothing
  assert.equal((fixture.error_raised_by_producer as Json).type, "kombu.exceptions.EncodeError");
  assert.throws(() => encodeBody([[Buffer.from("\x00\x01binary")], {}, null], "json"), isCode("ENCODE_ERROR", /bytes/));
  assert.doesNotThrow(() => encodeBody([[Buffer.from("\x00\x01binary")], {}, null], "msgpack"));
});

test("decodes JSON with any charset parameter and msgpack", () => {
  const body = Buffer.from('{"a": "\u00eb"}');
  assert.deepEqual(decodeBody(body, "application/json; charset=utf-8", OPTS), { a: "ë" });
  assert.deepEqual(decodeBody(Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xeb, 0x22, 0x7d]), "application/json; charset=latin1", OPTS), { a: "ë" });
  assert.deepEqual(decodeBody(Buffer.from("\ufeff[1]"), JSON_CONTENT_TYPE, OPTS), [1]);
});

test("pickle, yaml and unknown types are refused, naming what is accepted", () => {
  const body = Buffer.from("\x80\x04K\x01.");
  const namesBoth = /pickle.*json \(application\/json\), msgpack \(application\/x-msgpack\)/;
  assert.throws(() => decodeBody(body, PICKLE_CONTENT_TYPE, OPTS), isCode("CONTENT_TYPE_NOT_ALLOWED", namesBoth));
  assert.throws(() => decodeBody(body, YAML_CONTENT_TYPE, OPTS), isCode("CONTENT_TYPE_NOT_ALLOWED", /yaml.*json.*msgpack/));
  assert.throws(() => decodeBody(body, "", OPTS), isCode("CONTENT_TYPE_NOT_ALLOWED", /without a content type/));
  assert.throws(() => decodeBody(body, "text/plain", OPTS), isCode("CONTENT_TYPE_NOT_ALLOWED", /text\/plain/));
});

test("the accept list restricts even the serializers we know", () => {
  const json = encodeBody([1], "json");
  assert.throws(() => decodeBody(json.body, json.contentType, { accept: ["msgpack"], maxBytes: 100 }), isCode("CONTENT_TYPE_NOT_ALLOWED", /accepted are msgpack/));
  assert.throws(() => decodeBody(json.body, json.contentType, { accept: [], maxBytes: 100 }), isCode("CONTENT_TYPE_NOT_ALLOWED", /accepted are nothing/));
});

test("an oversized body is refused before it is parsed", () => {
  const invalid = Buffer.alloc(2048, 0x5b); // "[[[[..." would be MALFORMED if it were parsed
  assert.throws(() => decodeBody(invalid, JSON_CONTENT_TYPE, OPTS), isCode("MESSAGE_TOO_LARGE", /2048 bytes, over the 1024-byte limit/));
  assert.throws(() => decodeBody(invalid, MSGPACK_CONTENT_TYPE, OPTS), isCode("MESSAGE_TOO_LARGE"));
  assert.deepEqual(decodeBody(Buffer.from("[1]"), JSON_CONTENT_TYPE, { ...OPTS, maxBytes: 3 }), [1]);
});

test("invalid JSON, invalid UTF-8 and invalid msgpack are MALFORMED_MESSAGE", () => {
  assert.throws(() => decodeBody(Buffer.from("[[2, 3], {"), JSON_CONTENT_TYPE, OPTS), isCode("MALFORMED_MESSAGE", /invalid json body/));
  assert.throws(() => decodeBody(Buffer.from([0x22, 0xff, 0x22]), JSON_CONTENT_TYPE, OPTS), isCode("MALFORMED_MESSAGE"));
  assert.throws(() => decodeBody(Buffer.from([0x93, 0xc4]), MSGPACK_CONTENT_TYPE, OPTS), isCode("MALFORMED_MESSAGE", /invalid msgpack body/));
  assert.throws(() => decodeBody(Buffer.from("[1]"), "application/json; charset=klingon", OPTS), isCode("MALFORMED_MESSAGE"));
});
