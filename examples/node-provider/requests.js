// Checks of the two request bodies against schemas/kit-v1/visit-search.schema.json#/$defs/request and
// document-fetch.schema.json, written out by hand because this example uses no npm package. A real connector
// would rather compile the schemas with a JSON Schema validator (for example Ajv with ajv-formats).
'use strict';

const REQUEST_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{7,127}$/;
const IDENTIFIER = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
const TOKEN = /^[A-Za-z0-9_-]{16,128}$/;
const DATE = /^([0-9]{4})-([0-9]{2})-([0-9]{2})$/;
const DATE_TIME = /^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$/;
const DOCUMENT_TYPES = ['medical_receipt', 'itemised_statement', 'prescription', 'pharmacy_receipt'];

class InvalidRequest extends Error {}

function fail(where, what) {
  const error = new InvalidRequest(`${where}: ${what}`);
  error.code = 'invalid_request';
  throw error;
}

function object(value, where, required, optional = []) {
  if (!value || typeof value !== 'object' || Array.isArray(value)) fail(where, 'must be an object');
  for (const name of required) if (!(name in value)) fail(`${where}/${name}`, 'is required');
  for (const name of Object.keys(value)) {
    if (!required.includes(name) && !optional.includes(name)) fail(`${where}/${name}`, 'is not allowed');
  }
}

function text(value, where, pattern) {
  if (typeof value !== 'string' || value.length === 0 || value.length > 500) fail(where, 'must be a non-empty string');
  if (pattern && !pattern.test(value)) fail(where, `must match ${pattern}`);
}

function date(value, where) {
  const match = typeof value === 'string' && DATE.exec(value);
  if (!match) fail(where, 'must be a date YYYY-MM-DD');
  const [year, month, day] = match.slice(1).map(Number);
  const real = new Date(Date.UTC(year, month - 1, day));
  if (real.getUTCFullYear() !== year || real.getUTCMonth() !== month - 1 || real.getUTCDate() !== day) {
    fail(where, 'is not a calendar date');
  }
}

function dateTime(value, where) {
  if (typeof value !== 'string' || !DATE_TIME.test(value) || Number.isNaN(Date.parse(value))) {
    fail(where, 'must be an RFC 3339 date-time with an offset');
  }
  date(value.slice(0, 10), where);
}

function list(value, where, { min = 1, max = Infinity, unique = true, each }) {
  if (!Array.isArray(value) || value.length < min || value.length > max) fail(where, `must be a list of ${min} to ${max}`);
  if (unique && new Set(value.map((v) => JSON.stringify(v))).size !== value.length) fail(where, 'has duplicates');
  value.forEach((item, i) => each(item, `${where}/${i}`));
}

function documentType(value, where) {
  if (!DOCUMENT_TYPES.includes(value)) fail(where, `must be one of ${DOCUMENT_TYPES.join(', ')}`);
}

function patient(value, where) {
  object(value, where, ['name', 'birth_date', 'identity_token']);
  text(value.name, `${where}/name`);
  date(value.birth_date, `${where}/birth_date`);
  text(value.identity_token, `${where}/identity_token`, TOKEN);
}

function consent(value, where) {
  object(value, where, ['consent_id', 'granted_at', 'expires_at', 'scope']);
  text(value.consent_id, `${where}/consent_id`, IDENTIFIER);
  dateTime(value.granted_at, `${where}/granted_at`);
  dateTime(value.expires_at, `${where}/expires_at`);
  list(value.scope, `${where}/scope`, { each: documentType });
}

function validateSearch(body) {
  object(body, '', ['request_id', 'patient', 'period', 'consent']);
  text(body.request_id, '/request_id', REQUEST_ID);
  patient(body.patient, '/patient');
  object(body.period, '/period', ['start', 'end']);
  date(body.period.start, '/period/start');
  date(body.period.end, '/period/end');
  if (body.period.start > body.period.end) fail('/period', 'start is after end');
  consent(body.consent, '/consent');
}

function validateFetch(body) {
  object(body, '', ['request_id', 'patient', 'visit_ids', 'document_types', 'consent']);
  text(body.request_id, '/request_id', REQUEST_ID);
  patient(body.patient, '/patient');
  list(body.visit_ids, '/visit_ids', { max: 100, each: (v, w) => text(v, w, IDENTIFIER) });
  list(body.document_types, '/document_types', { each: documentType });
  consent(body.consent, '/consent');
}

module.exports = { validateSearch, validateFetch, InvalidRequest };
