// Interoperability test: fhir-kit-client, a FHIR client that nobody on this
// project wrote, drives the OpenSpine directory (/directory/FHIR/R4) through
// create, read, vread, search, paging, update, history, batch, transaction,
// patch, delete and error responses.
//
// The test builds the server (or takes SPINE_BIN), starts it on a free port
// with a fresh data folder, and stops it at the end, also when a test fails.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

import { Client, RESPONSE_KEY } from 'fhir-kit-client';

const ODS = 'https://fhir.nhs.uk/Id/ods-organization-code';
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
// A prefix unique to this run, so that searches find only what this run made.
const run = randomBytes(3).toString('hex').toUpperCase(); // 6 chars of [0-9A-F]

let workDir;
let server;
let serverLog = '';
let origin;
let client;

function organization(code, name, extra = {}) {
  return {
    resourceType: 'Organization',
    identifier: [{ system: ODS, value: code }],
    name,
    ...extra,
  };
}

// response returns the fetch Response that fhir-kit-client attaches to results.
function response(result) {
  const res = result[RESPONSE_KEY];
  assert.ok(res, 'fhir-kit-client attached no response to the result');
  return res;
}

// rejection runs fn, which must fail with an HTTP error, and returns the
// error's {status, data} as fhir-kit-client reports it.
async function rejection(fn) {
  try {
    await fn();
  } catch (err) {
    assert.ok(err.response, `expected an HTTP error, got ${err.stack || err}`);
    return err.response;
  }
  assert.fail('the request succeeded but an error was expected');
}

function assertOutcome(data, code) {
  assert.equal(data.resourceType, 'OperationOutcome', JSON.stringify(data));
  assert.ok(Array.isArray(data.issue) && data.issue.length > 0, 'OperationOutcome without issues');
  assert.equal(data.issue[0].severity, 'error');
  assert.equal(data.issue[0].details?.coding?.[0]?.code, code, JSON.stringify(data.issue[0]));
}

function buildServer() {
  if (process.env.SPINE_BIN) return resolve(process.env.SPINE_BIN);
  const bin = join(workDir, 'spine');
  const r = spawnSync('go', ['build', '-o', bin, './cmd/spine'], {
    cwd: repoRoot,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`go build ./cmd/spine failed with exit code ${r.status}`);
  return bin;
}

function startServer(bin) {
  const data = join(workDir, 'data');
  server = spawn(bin, ['serve', '--dev', '--data', data, '--addr', '127.0.0.1:0', '--log-level', 'warn'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server.stderr.setEncoding('utf8');
  server.stderr.on('data', (s) => {
    serverLog += s;
  });
  return new Promise((resolveAddr, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`spine did not print its listening line within 60s; stderr:\n${serverLog}`));
    }, 60_000);
    const lines = createInterface({ input: server.stdout });
    lines.on('line', (line) => {
      const m = /^listening on (http:\/\/\S+)$/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolveAddr(m[1]);
      }
    });
    server.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    server.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`spine exited early (code ${code}, signal ${signal}); stderr:\n${serverLog}`));
    });
  });
}

async function stopServer() {
  if (!server || server.exitCode !== null || server.signalCode !== null) return;
  const exited = new Promise((r) => server.once('exit', r));
  server.kill('SIGTERM');
  const timer = setTimeout(() => server.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

// Last resort: never leave a server behind, whatever way this process ends.
process.on('exit', () => {
  if (server && server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
});

describe('fhir-kit-client against the OpenSpine directory', () => {
  before(
    async () => {
      workDir = mkdtempSync(join(tmpdir(), 'spine-interop-'));
      const bin = buildServer();
      origin = await startServer(bin);
      // The spine answers no one it cannot identify: take the demo application's
      // development token, printed by `spine token` as its last line.
      const tok = spawnSync(bin, ['token', '--data', join(workDir, 'data')], { encoding: 'utf8' });
      if (tok.status !== 0) throw new Error(`spine token failed: ${tok.stderr}`);
      const token = tok.stdout.trim().split('\n').pop();
      client = new Client({ baseUrl: `${origin}/directory/FHIR/R4`, bearerToken: token });
      // Without the token the same read is refused with a FHIR 401.
      const anon = await fetch(`${origin}/directory/FHIR/R4/Organization/RR8`);
      assert.equal(anon.status, 401);
      assertOutcome(await anon.json(), 'ACCESS_DENIED');
    },
    { timeout: 10 * 60_000 },
  );

  after(async () => {
    await stopServer();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it('reads the CapabilityStatement', async () => {
    const cs = await client.capabilityStatement();
    assert.equal(cs.resourceType, 'CapabilityStatement');
    assert.equal(cs.fhirVersion, '4.0.1');
    const types = cs.rest[0].resource.map((r) => r.type);
    for (const t of ['Organization', 'Practitioner', 'PractitionerRole', 'Location', 'HealthcareService', 'Endpoint']) {
      assert.ok(types.includes(t), `CapabilityStatement lacks ${t}: ${types}`);
    }
  });

  describe('the life of one Organization', () => {
    const code = `IK${run}`;
    let id;

    it('creates it: 201, Location, ETag, version 1', async () => {
      const created = await client.create({ resourceType: 'Organization', body: organization(code, `Interop Original ${run}`) });
      const res = response(created);
      assert.equal(res.status, 201);
      assert.equal(created.resourceType, 'Organization');
      assert.match(created.id, /^[A-Za-z0-9\-.]{1,64}$/);
      id = created.id;
      assert.equal(created.meta.versionId, '1');
      assert.ok(created.meta.lastUpdated, 'no meta.lastUpdated');
      assert.equal(created.name, `Interop Original ${run}`);
      assert.deepEqual(created.identifier, [{ system: ODS, value: code }]);
      assert.equal(res.headers.get('location'), `${origin}/directory/FHIR/R4/Organization/${id}/_history/1`);
      assert.equal(res.headers.get('etag'), 'W/"1"');
    });

    it('reads it back', async () => {
      const read = await client.read({ resourceType: 'Organization', id });
      assert.equal(response(read).status, 200);
      assert.equal(response(read).headers.get('etag'), 'W/"1"');
      assert.equal(read.id, id);
      assert.equal(read.meta.versionId, '1');
      assert.equal(read.name, `Interop Original ${run}`);
      assert.deepEqual(read.identifier, [{ system: ODS, value: code }]);
    });

    it('finds exactly it by its unique identifier (system|code and code alone)', async () => {
      for (const identifier of [`${ODS}|${code}`, code]) {
        const bundle = await client.search({ resourceType: 'Organization', searchParams: { identifier } });
        assert.equal(bundle.resourceType, 'Bundle');
        assert.equal(bundle.type, 'searchset');
        assert.equal(bundle.total, 1, `identifier=${identifier}`);
        assert.equal(bundle.entry.length, 1);
        assert.equal(bundle.entry[0].resource.id, id);
        assert.equal(bundle.entry[0].fullUrl, `${origin}/directory/FHIR/R4/Organization/${id}`);
        assert.equal(bundle.entry[0].search.mode, 'match');
      }
    });

    it('finds it by name and not by a name nobody has', async () => {
      const byName = await client.search({ resourceType: 'Organization', searchParams: { name: `interop original ${run.toLowerCase()}` } });
      assert.deepEqual(byName.entry.map((e) => e.resource.id), [id]);
      const none = await client.search({ resourceType: 'Organization', searchParams: { name: `NoSuchName${run}` } });
      assert.equal(none.total, 0);
      assert.equal((none.entry ?? []).length, 0);
    });

    it('updates it: version 2, the name changed', async () => {
      const current = await client.read({ resourceType: 'Organization', id });
      const body = { ...current, name: `Interop Renamed ${run}` };
      delete body.meta;
      const updated = await client.update({
        resourceType: 'Organization',
        id,
        body,
        options: { headers: { 'If-Match': 'W/"1"' } },
      });
      assert.equal(response(updated).status, 200);
      assert.equal(response(updated).headers.get('etag'), 'W/"2"');
      assert.equal(updated.id, id);
      assert.equal(updated.meta.versionId, '2');
      assert.equal(updated.name, `Interop Renamed ${run}`);

      const read = await client.read({ resourceType: 'Organization', id });
      assert.equal(read.meta.versionId, '2');
      assert.equal(read.name, `Interop Renamed ${run}`);
      // The old name no longer finds it, the new one does.
      const old = await client.search({ resourceType: 'Organization', searchParams: { name: `Interop Original ${run}` } });
      assert.equal(old.total, 0);
      const renamed = await client.search({ resourceType: 'Organization', searchParams: { name: `Interop Renamed ${run}` } });
      assert.deepEqual(renamed.entry.map((e) => e.resource.id), [id]);
    });

    it('refuses an update naming a stale version (If-Match) with 412 and an OperationOutcome', async () => {
      const { status, data } = await rejection(() =>
        client.update({
          resourceType: 'Organization',
          id,
          body: { ...organization(code, 'Lost Update'), id },
          options: { headers: { 'If-Match': 'W/"1"' } },
        }),
      );
      assert.equal(status, 412);
      assertOutcome(data, 'PRECONDITION_FAILED');
      const read = await client.read({ resourceType: 'Organization', id });
      assert.equal(read.meta.versionId, '2');
      assert.equal(read.name, `Interop Renamed ${run}`);
    });

    it('vreads both versions', async () => {
      const v1 = await client.vread({ resourceType: 'Organization', id, version: '1' });
      assert.equal(v1.meta.versionId, '1');
      assert.equal(v1.name, `Interop Original ${run}`);
      assert.equal(response(v1).headers.get('etag'), 'W/"1"');
      const v2 = await client.vread({ resourceType: 'Organization', id, version: '2' });
      assert.equal(v2.meta.versionId, '2');
      assert.equal(v2.name, `Interop Renamed ${run}`);
    });

    it('vread of a version that does not exist is a 404 OperationOutcome', async () => {
      const { status, data } = await rejection(() => client.vread({ resourceType: 'Organization', id, version: '9' }));
      assert.equal(status, 404);
      assert.equal(data.resourceType, 'OperationOutcome');
    });

    it('has a history of 2 entries, newest first', async () => {
      const h = await client.history({ resourceType: 'Organization', id });
      assert.equal(h.resourceType, 'Bundle');
      assert.equal(h.type, 'history');
      assert.equal(h.entry.length, 2);
      assert.deepEqual(h.entry.map((e) => e.resource.meta.versionId), ['2', '1']);
      assert.deepEqual(h.entry.map((e) => e.resource.name), [`Interop Renamed ${run}`, `Interop Original ${run}`]);
      assert.deepEqual(h.entry.map((e) => e.request.method), ['PUT', 'POST']);
      assert.deepEqual(h.entry.map((e) => e.response.status.slice(0, 3)), ['200', '201']);
      for (const e of h.entry) assert.equal(e.resource.id, id);
    });

    it('patches it with JSON Patch: version 3', async () => {
      const patched = await client.patch({
        resourceType: 'Organization',
        id,
        jsonPatch: [
          { op: 'test', path: '/name', value: `Interop Renamed ${run}` },
          { op: 'add', path: '/active', value: false },
        ],
      });
      assert.equal(patched.meta.versionId, '3');
      assert.equal(patched.active, false);
      assert.equal(patched.name, `Interop Renamed ${run}`);
      const inactive = await client.search({ resourceType: 'Organization', searchParams: { identifier: code, active: 'false' } });
      assert.deepEqual(inactive.entry.map((e) => e.resource.id), [id]);
    });

    it('deletes it: read is then 410 Gone with an OperationOutcome, search no longer finds it', async () => {
      const del = await client.delete({ resourceType: 'Organization', id });
      assert.ok([200, 202, 204].includes(response(del).status), `delete status ${response(del).status}`);

      const { status, data } = await rejection(() => client.read({ resourceType: 'Organization', id }));
      assert.equal(status, 410);
      assertOutcome(data, 'RESOURCE_DELETED');

      const found = await client.search({ resourceType: 'Organization', searchParams: { identifier: `${ODS}|${code}` } });
      assert.equal(found.total, 0);
      assert.equal((found.entry ?? []).length, 0);

      const h = await client.history({ resourceType: 'Organization', id });
      assert.equal(h.entry.length, 4);
      assert.equal(h.entry[0].request.method, 'DELETE');
      assert.equal(h.entry[0].resource, undefined);
      // Earlier versions stay readable.
      const v1 = await client.vread({ resourceType: 'Organization', id, version: '1' });
      assert.equal(v1.name, `Interop Original ${run}`);
    });
  });

  describe('errors reach the client as OperationOutcomes', () => {
    it('reading a missing id: 404, RESOURCE_NOT_FOUND', async () => {
      const { status, data } = await rejection(() => client.read({ resourceType: 'Organization', id: `missing-${randomUUID()}` }));
      assert.equal(status, 404);
      assertOutcome(data, 'RESOURCE_NOT_FOUND');
      assert.equal(data.issue[0].code, 'not-found');
    });

    it('creating an Organization with an invalid ODS code: 400, INVALID_VALUE at the identifier', async () => {
      const { status, data } = await rejection(() =>
        client.create({ resourceType: 'Organization', body: organization('not-an-ods-code', 'Bad Code Org') }),
      );
      assert.equal(status, 400);
      assertOutcome(data, 'INVALID_VALUE');
      assert.deepEqual(data.issue[0].expression, ['Organization.identifier[0].value']);
    });

    it('an unknown search parameter is refused or reported, never silently ignored as a match-all', async () => {
      let bundle;
      try {
        bundle = await client.search({ resourceType: 'Organization', searchParams: { 'no-such-param': 'x' } });
      } catch (err) {
        assert.ok(err.response, String(err));
        assert.equal(err.response.status, 400);
        assert.equal(err.response.data.resourceType, 'OperationOutcome');
        return;
      }
      // Lenient handling is allowed by FHIR, but then the self link must not claim the parameter was used.
      const self = bundle.link.find((l) => l.relation === 'self').url;
      assert.ok(!self.includes('no-such-param'), `self link claims an ignored parameter: ${self}`);
    });
  });

  describe('paging with nextPage', () => {
    const count = 25;
    const prefix = `Interop Paging ${run}`;
    const created = new Set();

    before(async () => {
      for (let i = 0; i < count; i++) {
        const code = `PG${run}${String(i).padStart(2, '0')}`;
        const org = await client.create({
          resourceType: 'Organization',
          body: organization(code, `${prefix} ${String(i).padStart(2, '0')}`),
        });
        created.add(org.id);
      }
      assert.equal(created.size, count);
    });

    it('visits every created resource exactly once over pages of 10', async () => {
      let bundle = await client.search({ resourceType: 'Organization', searchParams: { name: prefix, _count: 10 } });
      assert.equal(bundle.total, count);
      const seen = [];
      const sizes = [];
      let pages = 0;
      while (bundle) {
        pages++;
        assert.ok(pages <= 10, 'too many pages: the next links loop');
        assert.equal(bundle.resourceType, 'Bundle');
        assert.equal(bundle.type, 'searchset');
        const entries = bundle.entry ?? [];
        assert.ok(entries.length <= 10, `page ${pages} has ${entries.length} entries, more than _count=10`);
        sizes.push(entries.length);
        for (const e of entries) seen.push(e.resource.id);
        bundle = await client.nextPage({ bundle });
      }
      assert.deepEqual(sizes, [10, 10, 5]);
      assert.equal(seen.length, count, 'a resource was visited twice or missed');
      assert.equal(new Set(seen).size, count, 'a resource was visited twice');
      assert.deepEqual(new Set(seen), created);
    });

    it('a page link keeps the snapshot: an update after the first page does not duplicate or drop entries', async () => {
      let bundle = await client.search({ resourceType: 'Organization', searchParams: { name: prefix, _count: 10 } });
      const seen = bundle.entry.map((e) => e.resource.id);
      // Touch one resource that has already been seen; a paging scheme that
      // re-runs the query ordered by lastUpdated would show it again.
      const first = await client.read({ resourceType: 'Organization', id: seen[0] });
      delete first.meta;
      await client.update({ resourceType: 'Organization', id: first.id, body: { ...first, active: true } });
      while ((bundle = await client.nextPage({ bundle }))) {
        for (const e of bundle.entry ?? []) seen.push(e.resource.id);
      }
      assert.equal(seen.length, count);
      assert.deepEqual(new Set(seen), created);
    });
  });

  describe('Bundles', () => {
    it('transaction: a Location references an Organization through its urn:uuid fullUrl', async () => {
      const orgUrn = `urn:uuid:${randomUUID()}`;
      const locUrn = `urn:uuid:${randomUUID()}`;
      const code = `TX${run}`;
      const result = await client.transaction({
        body: {
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            // The referencing entry comes first: the server must resolve across the whole Bundle.
            {
              fullUrl: locUrn,
              resource: {
                resourceType: 'Location',
                name: `Interop Site ${run}`,
                status: 'active',
                managingOrganization: { reference: orgUrn },
              },
              request: { method: 'POST', url: 'Location' },
            },
            {
              fullUrl: orgUrn,
              resource: organization(code, `Interop Transaction ${run}`),
              request: { method: 'POST', url: 'Organization' },
            },
          ],
        },
      });
      assert.equal(result.resourceType, 'Bundle');
      assert.equal(result.type, 'transaction-response');
      assert.equal(result.entry.length, 2);
      for (const e of result.entry) {
        assert.match(e.response.status, /^201/);
        assert.ok(e.response.location, 'transaction-response entry without response.location');
      }
      // Entries answer in request order.
      const [locLoc, orgLoc] = result.entry.map((e) => e.response.location);
      const locId = /(?:^|\/)Location\/([^/]+)\/_history\/1$/.exec(locLoc)?.[1];
      const orgId = /(?:^|\/)Organization\/([^/]+)\/_history\/1$/.exec(orgLoc)?.[1];
      assert.ok(locId, `unexpected Location location ${locLoc}`);
      assert.ok(orgId, `unexpected Organization location ${orgLoc}`);

      const org = await client.read({ resourceType: 'Organization', id: orgId });
      assert.equal(org.name, `Interop Transaction ${run}`);
      const loc = await client.read({ resourceType: 'Location', id: locId });
      assert.equal(loc.managingOrganization.reference, `Organization/${orgId}`);
      // The rewritten reference is searchable, and resolvable by the client.
      const byOrg = await client.search({ resourceType: 'Location', searchParams: { organization: `Organization/${orgId}` } });
      assert.deepEqual(byOrg.entry.map((e) => e.resource.id), [locId]);
      const resolved = await client.resolve({ reference: loc.managingOrganization.reference });
      assert.equal(resolved.id, orgId);
    });

    it('transaction is atomic: one invalid entry fails the whole Bundle and nothing is stored', async () => {
      const code = `TA${run}`;
      const { status, data } = await rejection(() =>
        client.transaction({
          body: {
            resourceType: 'Bundle',
            type: 'transaction',
            entry: [
              { fullUrl: `urn:uuid:${randomUUID()}`, resource: organization(code, 'Should Not Exist'), request: { method: 'POST', url: 'Organization' } },
              { fullUrl: `urn:uuid:${randomUUID()}`, resource: organization('bad code', 'Invalid'), request: { method: 'POST', url: 'Organization' } },
            ],
          },
        }),
      );
      assert.ok(status >= 400 && status < 500, `status ${status}`);
      assert.equal(data.resourceType, 'OperationOutcome');
      const found = await client.search({ resourceType: 'Organization', searchParams: { identifier: code } });
      assert.equal(found.total, 0, 'a failed transaction left a resource behind');
    });

    it('batch: entries succeed or fail on their own, each with its status', async () => {
      const code = `BT${run}`;
      const result = await client.batch({
        body: {
          resourceType: 'Bundle',
          type: 'batch',
          entry: [
            { resource: organization(code, `Interop Batch ${run}`), request: { method: 'POST', url: 'Organization' } },
            { request: { method: 'GET', url: 'Organization/RR8' } },
            { request: { method: 'GET', url: `Organization/missing-${run}` } },
            { resource: organization('bad code', 'Invalid'), request: { method: 'POST', url: 'Organization' } },
            { request: { method: 'GET', url: `Organization?identifier=${code}` } },
          ],
        },
      });
      assert.equal(result.resourceType, 'Bundle');
      assert.equal(result.type, 'batch-response');
      assert.equal(result.entry.length, 5);
      const statuses = result.entry.map((e) => e.response.status.slice(0, 3));
      assert.deepEqual(statuses.slice(0, 4), ['201', '200', '404', '400']);

      assert.equal(result.entry[1].resource.id, 'RR8');
      // R4 leaves open where a failed entry's OperationOutcome goes: this
      // server puts it in entry.resource (the body the request alone would
      // have had), others in entry.response.outcome. Accept either.
      const outcome = (e) => e.response.outcome ?? e.resource;
      assertOutcome(outcome(result.entry[2]), 'RESOURCE_NOT_FOUND');
      assertOutcome(outcome(result.entry[3]), 'INVALID_VALUE');

      const made = await client.search({ resourceType: 'Organization', searchParams: { identifier: code } });
      assert.equal(made.total, 1);
      // The search entry ran after the create in the same batch.
      assert.equal(statuses[4], '200');
      assert.equal(result.entry[4].resource.resourceType, 'Bundle');
      assert.equal(result.entry[4].resource.type, 'searchset');
    });
  });
});
