// Validates docs/asyncapi.json (generated from the Go events registry by
// `go generate ./internal/asyncapi`; a Go test fails when it is stale) with
// the AsyncAPI initiative's own parser, which applies the 3.0 JSON Schema
// and its semantic rules (references, operation/channel consistency).
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";

const DOC = fileURLToPath(new URL("../../docs/asyncapi.json", import.meta.url));

test("docs/asyncapi.json is a valid AsyncAPI 3.0 document of both transports", async () => {
  const text = await readFile(DOC, "utf8");
  const { document, diagnostics } = await new Parser().parse(text);
  const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
  assert.deepEqual(
    errors.map((d) => `${d.path.join(".")}: ${d.message}`),
    [],
  );
  assert.ok(document, "the parser returned no document");
  assert.equal(document.version(), "3.0.0");
  assert.deepEqual(
    document
      .channels()
      .all()
      .map((c) => c.address())
      .sort(),
    ["/chat", "/presence", "/ws"],
  );

  // Every chatMessage is received on /chat and on /ws, with a reply.
  for (const id of ["chat.clientToServer.chatMessage", "ws.clientToServer.chatMessage"]) {
    const op = document.operations().get(id);
    assert.ok(op, `operation ${id}`);
    assert.equal(op.action(), "receive");
    assert.ok(op.reply(), `${id} has a reply (its ack)`);
  }
  const newMsg = document.operations().get("chat.serverToClient.newChatMessage");
  assert.equal(newMsg?.action(), "send");
  // The payload schema is the contract's: a ChatMessage requires id, room, content.
  const payload = newMsg?.messages().all()[0]?.payload();
  assert.ok(payload);
  for (const field of ["id", "room", "content", "sender", "timestamp"]) {
    assert.ok(payload.required()?.includes(field), `ChatMessage requires ${field}`);
  }
});
