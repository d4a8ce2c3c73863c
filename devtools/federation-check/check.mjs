// Composes the exported subgraph SDLs with Apollo's and The Guild's composers, then runs
// one query that spans the customers, invoices and products subgraphs through
// @apollo/gateway against a running server and compares its answer with /graphql's.
//
//   node check.mjs --schema-dir DIR [--url http://127.0.0.1:8000 --host demo.localhost --key KEY]
//
// Without --url only composition is checked. Prints one JSON line; exits 1 on any failure.
import { readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { isDeepStrictEqual } from "node:util";

import { composeServices as composeApollo } from "@apollo/composition";
import { ApolloGateway, RemoteGraphQLDataSource } from "@apollo/gateway";
import { composeServices as composeGuild } from "@theguild/federation-composition";
import { parse } from "graphql";

const SUBGRAPHS = ["customers", "products", "invoices", "catalog", "sagas"];

export const QUERY = `query CrossSubgraph($ids: [ID!]!) {
  customers(ids: $ids) {
    id email name
    invoices { id invoiceNumber total { amount currency }
               items { line quantity product { id name price { amount currency } } } }
  }
}`;

function fail(stage, detail) {
  console.log(JSON.stringify({ ok: false, stage, detail }));
  process.exit(1);
}

function services(schemaDir, url) {
  return SUBGRAPHS.map((name) => ({
    name,
    url: `${url ?? "http://subgraph.invalid"}/graphql/${name}`,
    typeDefs: parse(readFileSync(join(schemaDir, `${name}.graphql`), "utf8")),
  }));
}

function compose(schemaDir, url) {
  const subgraphs = services(schemaDir, url);
  const apollo = composeApollo(subgraphs);
  if (apollo.errors) fail("apollo-composition", apollo.errors.map((e) => e.message));
  let guild;
  try {
    guild = composeGuild(subgraphs);
  } catch (error) {
    fail("guild-composition", [String(error)]);
  }
  if (guild.errors) fail("guild-composition", guild.errors.map((e) => e.message));
  return apollo.supergraphSdl;
}

// Node's fetch drops a Host header (a browser rule), and the server picks the tenant by
// Host: this fetcher, which the gateway uses too, sends it over node:http.
function hostFetch(url, init = {}) {
  const headers = Object.fromEntries(new Headers(init.headers ?? {}).entries());
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(url, { method: init.method ?? "GET", headers }, (incoming) => {
      const chunks = [];
      incoming.on("data", (chunk) => chunks.push(chunk));
      incoming.on("end", () => resolve(new Response(Buffer.concat(chunks), {
        status: incoming.statusCode, headers: incoming.headers,
      })));
      incoming.on("error", reject);
    });
    outgoing.on("error", reject);
    outgoing.end(init.body);
  });
}

async function post(url, headers, body) {
  const response = await hostFetch(url, {
    method: "POST", headers: { ...headers, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

async function viaGateway(supergraphSdl, headers, variables) {
  const gateway = new ApolloGateway({
    supergraphSdl,
    buildService: ({ url }) => new RemoteGraphQLDataSource({
      url,
      fetcher: hostFetch,
      // The tenant is chosen by Host; the key authenticates each subgraph call.
      willSendRequest({ request }) {
        for (const [name, value] of Object.entries(headers)) request.http.headers.set(name, value);
      },
    }),
  });
  const { executor } = await gateway.load();
  try {
    const document = parse(QUERY);
    const result = await executor({
      request: { query: QUERY, variables }, document, operationName: "CrossSubgraph",
      operation: document.definitions[0], queryHash: "cross-subgraph", context: {},
      cache: new Map(), metrics: {}, overallCachePolicy: { restrict() {}, replace() {} },
      logger: console, schema: gateway.schema, source: QUERY,
    });
    return JSON.parse(JSON.stringify(result));
  } finally {
    await gateway.stop();
  }
}

const { values } = parseArgs({
  options: {
    "schema-dir": { type: "string" }, url: { type: "string" }, host: { type: "string" },
    key: { type: "string" }, ids: { type: "string", default: "1,2,3" },
  },
});
if (!values["schema-dir"]) fail("arguments", ["--schema-dir is required"]);
const supergraph = compose(values["schema-dir"], values.url);
if (!values.url) {
  console.log(JSON.stringify({ ok: true, composed: SUBGRAPHS }));
  process.exit(0);
}
const headers = { authorization: `Bearer ${values.key}` };
if (values.host) headers.host = values.host;
const variables = { ids: values.ids.split(",") };
const direct = await post(`${values.url}/graphql`, headers, { query: QUERY, variables });
if (direct.status !== 200 || direct.body.errors) fail("graphql", direct);
const gateway = await viaGateway(supergraph, headers, variables);
if (gateway.errors) fail("gateway", gateway.errors);
if (!isDeepStrictEqual(gateway.data, direct.body.data)) {
  fail("compare", { gateway: gateway.data, graphql: direct.body.data });
}
// The customers' emails as the gateway answered them, for the caller to check against its data.
console.log(JSON.stringify({
  ok: true, composed: SUBGRAPHS, customers: gateway.data.customers.map((c) => c.email),
}));
