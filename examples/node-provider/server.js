#!/usr/bin/env node
// A minimal kit-v1 provider connector (pull mode) in Node.js, with nothing but Node's own modules.
//
//   node server.js --seed scenario/emr-seed --provider 99310001 \
//        --cert certs/server.pem --key certs/server.key --ca certs/ca.pem --port 8443
//
// Mutual TLS: only clients whose certificate the CA verifies get past the handshake, and only the relay's
// certificate (role "relay" in its subject OU) may search or fetch. Written from docs/ and
// schemas/kit-v1/openapi.yaml; see README.md for what a real connector changes.
'use strict';

const fs = require('node:fs');
const https = require('node:https');
const { parseArgs } = require('node:util');
const { Emr } = require('./emr');
const { InvalidRequest, validateSearch, validateFetch } = require('./requests');

const MAX_BODY = 1024 * 1024;  // the suite sends 2 MiB and expects 413
const IDEMPOTENCY_ENTRIES = 10000;
// Mozilla "intermediate" TLS 1.2 suites (ECDHE, AEAD only); TLS 1.3 suites are Node's defaults.
const CIPHERS = ['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305'].join(':');
const ALL_TYPES = ['medical_receipt', 'itemised_statement', 'prescription', 'pharmacy_receipt'];
const PROBLEMS = {  // code → [status, title]
  invalid_json: [400, 'Malformed JSON'], invalid_request: [400, 'Invalid request'],
  unsupported_media_type: [415, 'Unsupported media type'], payload_too_large: [413, 'Payload too large'],
  not_found: [404, 'Not found'], method_not_allowed: [405, 'Method not allowed'],
  unknown_patient: [404, 'Unknown patient'], unknown_visit: [404, 'Unknown visit'],
  invalid_consent: [403, 'Invalid consent'], idempotency_conflict: [409, 'Idempotency conflict'],
  forbidden: [403, 'Forbidden'], internal_error: [500, 'Internal error'],
};

class Problem extends Error {
  constructor(code, detail) {
    super(detail);
    this.code = code;
  }
}

function answer(status, body, type = 'application/json') {
  return { status, type, body };
}

function problem(code, detail) {
  const [status, title] = PROBLEMS[code];
  return answer(status, { type: `https://s24kit.invalid/problems/${code}`, title, status, detail, code },
    'application/problem+json');
}

function send(res, { status, type, body }, extraHeaders = {}) {
  const bytes = Buffer.from(JSON.stringify(body), 'utf8');
  res.writeHead(status, { 'content-type': `${type}; charset=utf-8`, 'content-length': bytes.length,
    'cache-control': 'no-store', ...extraHeaders });
  res.end(bytes);
}

/** The request body, or a Problem: 415 when not JSON, 413 above MAX_BODY (read to the end so the answer arrives). */
function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size <= MAX_BODY) chunks.push(chunk);
    });
    req.on('error', reject);
    req.on('end', () => {
      if (size > MAX_BODY) return reject(new Problem('payload_too_large', `at most ${MAX_BODY} bytes`));
      const mediaType = (req.headers['content-type'] || '').split(';')[0].trim().toLowerCase();
      if (mediaType !== 'application/json') {
        return reject(new Problem('unsupported_media_type', 'send the body as application/json'));
      }
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        return resolve({ text, json: JSON.parse(text) });
      } catch {
        return reject(new Problem('invalid_json', 'the body is not JSON'));
      }
    });
  });
}

/** The role written in the client certificate's subject OU (the kit's test PKI puts it there). */
function callerRole(req) {
  const cert = req.socket.getPeerCertificate();
  const unit = cert && cert.subject ? cert.subject.OU : undefined;
  return Array.isArray(unit) ? undefined : unit;
}

function checkConsent(consent, now, wanted) {
  if (!(Date.parse(consent.granted_at) <= now && now < Date.parse(consent.expires_at))) {
    throw new Problem('invalid_consent', 'the consent is not valid now');
  }
  const outside = wanted.filter((type) => !consent.scope.includes(type));
  if (outside.length) throw new Problem('invalid_consent', `outside the consent scope: ${outside.join(', ')}`);
}

function makeHandlers(emr) {
  const own = emr.providerCode;
  const patientOf = (query) => {
    const patient = emr.findPatient(query);
    if (!patient) throw new Problem('unknown_patient', 'no patient with this identity token, name and birth date');
    return patient;
  };
  return {
    search(request) {
      validateSearch(request);
      checkConsent(request.consent, Date.now(), []);
      const patient = patientOf(request.patient);
      const visits = emr.visitsOf(patient, request.period).map((v) => {
        const visit = { visit_id: v.visit_id, setting: v.setting, start_date: v.start_date, end_date: v.end_date,
          available_documents: emr.documentTypes(v) };
        if (v.setting !== 'pharmacy') visit.department = v.department;
        return visit;
      });
      return answer(200, { request_id: request.request_id, provider_code: own, visits });
    },
    fetch(request) {
      validateFetch(request);
      checkConsent(request.consent, Date.now(), request.document_types);
      const patient = patientOf(request.patient);
      const visits = request.visit_ids.map((id) => {
        const visit = emr.visits.get(id);
        if (!visit || visit.patient_id !== patient.patient_id) throw new Problem('unknown_visit', `unknown visit ${id}`);
        return visit;
      });
      const documents = [];
      const missing = [];
      for (const visit of visits) {
        for (const type of request.document_types) {
          const document = emr.document(visit, type);
          if (document) documents.push(document);
          else missing.push({ visit_id: visit.visit_id, document_type: type, reason: reasonMissing(visit, type) });
        }
      }
      const bundle = { profile: 'kit-v1', request_id: request.request_id, provider_code: own, documents };
      if (missing.length) bundle.missing = missing;
      return answer(200, bundle);
    },
  };
}

function reasonMissing(visit, type) {
  const medical = visit.setting !== 'pharmacy';
  const applies = medical ? type !== 'pharmacy_receipt' : type === 'pharmacy_receipt';
  return applies ? 'not_issued' : 'not_applicable';
}

/** Canonical JSON (sorted keys): the same request sent twice compares equal whatever its key order. */
function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function makeServer(options) {
  const emr = new Emr(options.seed, options.provider);
  const handlers = makeHandlers(emr);
  const answered = new Map();  // request_id → { request, answer }: a repeated request gets the same answer

  async function route(req) {
    const url = new URL(req.url, 'https://connector.invalid');
    const routes = { '/s24/v1/health': 'GET', '/s24/v1/visits:search': 'POST', '/s24/v1/documents:fetch': 'POST' };
    if (!(url.pathname in routes)) throw new Problem('not_found', 'no such route');
    if (req.method !== routes[url.pathname]) {
      const error = new Problem('method_not_allowed', `use ${routes[url.pathname]}`);
      error.allow = routes[url.pathname];
      throw error;
    }
    if (url.pathname === '/s24/v1/health') {
      return answer(200, { status: 'ok', profile: 'kit-v1', provider_code: emr.providerCode,
        software: 'node-provider-example/1' });
    }
    if (callerRole(req) !== 'relay') throw new Problem('forbidden', 'only the relay may call this route');
    const { json } = await readBody(req);
    const handler = url.pathname === '/s24/v1/visits:search' ? handlers.search : handlers.fetch;
    const id = json && typeof json === 'object' && typeof json.request_id === 'string' ? json.request_id : undefined;
    const key = canonical(json);
    const earlier = id === undefined ? undefined : answered.get(`${url.pathname} ${id}`);
    if (earlier) {
      if (earlier.request !== key) throw new Problem('idempotency_conflict', 'request_id reused for another request');
      return earlier.answer;
    }
    let result;
    try {
      result = handler(json);
    } catch (error) {
      if (!(error instanceof Problem || error instanceof InvalidRequest)) throw error;
      result = problem(error.code, error.message);
    }
    if (id !== undefined && result.status !== 400) {
      if (answered.size >= IDEMPOTENCY_ENTRIES) answered.delete(answered.keys().next().value);
      answered.set(`${url.pathname} ${id}`, { request: key, answer: result });
    }
    return result;
  }

  const server = https.createServer({
    cert: fs.readFileSync(options.cert), key: fs.readFileSync(options.key), ca: fs.readFileSync(options.ca),
    requestCert: true, rejectUnauthorized: true,  // no certificate from the CA, no handshake
    minVersion: 'TLSv1.2', ciphers: CIPHERS, honorCipherOrder: true,
  }, (req, res) => {
    route(req).then((result) => send(res, result), (error) => {
      if (error instanceof Problem) {
        send(res, problem(error.code, error.message), error.allow ? { allow: error.allow } : {});
      } else {
        console.error('internal error:', error && error.message);  // the log, never the answer, gets details
        send(res, problem('internal_error', 'the connector could not answer'));
      }
    });
  });
  return server;
}

function main() {
  const { values } = parseArgs({ options: {
    seed: { type: 'string' }, provider: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' },
    ca: { type: 'string' }, host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string', default: '8443' },
  } });
  for (const name of ['seed', 'provider', 'cert', 'key', 'ca']) {
    if (!values[name]) {
      console.error(`missing --${name} (see README.md)`);
      process.exit(2);
    }
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`--port ${values.port}: must be a port number, 0 to 65535`);
    process.exit(2);
  }
  let server;
  try {
    server = makeServer(values);
  } catch (error) {
    console.error(`cannot start: ${error.message}`);  // an unreadable certificate or seed file, an unknown provider
    process.exit(2);
  }
  server.on('error', (error) => {
    console.error(`cannot listen on ${values.host}:${port}: ${error.code || error.message}`);
    process.exit(2);
  });
  server.listen(port, values.host, () => {
    console.log(`kit-v1 provider ${values.provider} listening on https://${values.host}:${server.address().port}`);
  });
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (require.main === module) main();

module.exports = { makeServer, ALL_TYPES };
