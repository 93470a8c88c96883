// orq.ai's own Node SDK (@orq-ai/node, unchanged) against our /v2/contacts.
// env: ORQ_BASE_URL (the service), ORQ_API_KEY (a tenant's API key),
// ORQ_NODE_MODULES (the node_modules folder scripts/lib.sh installs the
// pinned SDK into, from package.json and package-lock.json beside this file).
// The same calls as run_python.py; one JSON line per call; exits 1 if any call
// does not do what the SDK promises. Run by tests/e2e/orq.rs.
import { createRequire } from "node:module";
import { randomUUID } from "node:crypto";

const require = createRequire(process.env.ORQ_NODE_MODULES.replace(/\/?$/, "/"));
const { Orq } = require("@orq-ai/node");
const errors = require("@orq-ai/node/models/errors/index.js");
const { SDK_METADATA } = require("@orq-ai/node/lib/config.js");

const base = process.env.ORQ_BASE_URL;
const apiKey = process.env.ORQ_API_KEY;
const orq = new Orq({ apiKey, serverURL: base });
let failures = 0;

function report(call, ok, extra = {}) {
  if (!ok) failures++;
  console.log(JSON.stringify({
    sdk: "node", version: SDK_METADATA.sdkVersion, call, ok, ...extra,
  }));
}

function errInfo(e) {
  return {
    exc: e?.constructor?.name ?? typeof e,
    name: e?.name,
    status: e?.statusCode ?? e?.rawResponse?.status,
    message: String(e?.message ?? e).slice(0, 400),
    data: e?.data$ ?? undefined,
    cause: e?.cause ? String(e.cause).slice(0, 400) : undefined,
  };
}

const ext = "x-" + randomUUID().slice(0, 8);
let cid;

try {
  const r = await orq.contacts.create({
    externalId: ext, displayName: "Jane", email: "jane@example.com",
    tags: ["premium"], metadata: {},
  });
  cid = r.id;
  report("create", !!r.id && r.externalId === ext, { result: r });
} catch (e) { report("create", false, errInfo(e)); }

try {
  const r = await orq.contacts.list({
    limit: 2, filterBy: { tags: ["premium"] }, includeMetrics: false,
  });
  const ids = (r?.data ?? []).map((c) => c.id);
  report("list", ids.includes(cid) && ids.length <= 2, {
    count: ids.length, hasMore: r?.hasMore, result: r,
  });
} catch (e) { report("list", false, errInfo(e)); }

try {
  const r = await orq.contacts.retrieve({ id: cid ?? "missing" });
  report("retrieve", r.id === cid, { result: r });
} catch (e) { report("retrieve", false, errInfo(e)); }

try {
  const r = await orq.contacts.update({
    id: cid ?? "missing",
    requestBody: { displayName: "Jane Doe", tags: ["premium", "beta"] },
  });
  report("update", r.id === cid && r.displayName === "Jane Doe", { result: r });
} catch (e) { report("update", false, errInfo(e)); }

try {
  // No requestBody: the SDK sends an empty body.
  const r = await orq.contacts.update({ id: cid ?? "missing" });
  report("update_nothing", r.id === cid && r.displayName === "Jane Doe", { result: r });
} catch (e) { report("update_nothing", false, errInfo(e)); }

try {
  const r = await orq.contacts.retrieve({ id: "contact_does_not_exist" });
  report("retrieve_missing", false, { note: "expected an error", result: r });
} catch (e) {
  const typed = e instanceof errors.RetrieveContactResponseBody;
  report("retrieve_missing", typed, { typed, ...errInfo(e) });
}

try {
  const r = await orq.contacts.delete({ id: cid ?? "missing" });
  report("delete", r === undefined, { result: r ?? null });
} catch (e) { report("delete", false, errInfo(e)); }

process.exit(failures ? 1 : 0);
