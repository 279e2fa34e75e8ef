// The "EMR" of this example: the tables `s24kit generate` writes to emr-seed/ (JSON Lines), held in memory,
// and the four kit-v1 documents built from them. A real connector reads its own EMR database here instead;
// the mapping from each column to each document field is the vendor guide's table (docs/vendor-guide.ko.md).
'use strict';

const fs = require('node:fs');
const path = require('node:path');

function readTable(seedDir, table) {
  const file = path.join(seedDir, `${table}.jsonl`);
  return fs.readFileSync(file, 'utf8').split('\n').filter((line) => line.trim() !== '').map((line) => JSON.parse(line));
}

/** `amount` split in proportion to `weights`; the won left go to the largest remainders, earliest first. */
function spread(amount, weights) {
  const whole = weights.reduce((t, w) => t + w, 0);
  if (!whole) return weights.map((_, i) => (i === 0 ? amount : 0));
  const shares = weights.map((w) => [Math.floor((amount * w) / whole), (amount * w) % whole]);
  let left = amount - shares.reduce((t, [q]) => t + q, 0);
  const order = shares.map((_, i) => i).sort((a, b) => shares[b][1] - shares[a][1] || a - b);
  const out = shares.map(([q]) => q);
  for (const i of order) { if (left <= 0) break; out[i] += 1; left -= 1; }
  return out;
}

function groupBy(rows, key) {
  const out = new Map();
  for (const row of rows) {
    if (!out.has(row[key])) out.set(row[key], []);
    out.get(row[key]).push(row);
  }
  return out;
}

const sum = (items, field) => items.reduce((total, item) => total + item[field], 0);
const floor10 = (won) => Math.floor(won / 10) * 10;

/** The provider block every document carries (common.schema.json#/$defs/provider). */
function providerBlock(p) {
  return {
    provider_code: p.provider_code, facility_type: p.facility_type, name: p.name,
    business_number: p.business_number, phone: p.phone, address: p.address, representative: p.representative,
  };
}

function payment(visit) {
  const total = visit.paid_card + visit.paid_cash_receipt + visit.paid_cash;
  return { card: visit.paid_card, cash_receipt: visit.paid_cash_receipt, cash: visit.paid_cash, total };
}

class Emr {
  /** Load one provider's view of the seed: every patient (the relay may ask about anyone), that provider's visits. */
  constructor(seedDir, providerCode) {
    this.providerCode = providerCode;
    this.providers = new Map(readTable(seedDir, 'providers').map((p) => [p.provider_code, p]));
    if (!this.providers.has(providerCode)) {
      throw new Error(`provider ${providerCode} is not in ${seedDir}/providers.jsonl`);
    }
    this.patients = new Map(readTable(seedDir, 'patients').map((p) => [p.identity_token, p]));
    this.patientsById = new Map([...this.patients.values()].map((p) => [p.patient_id, p]));
    this.visits = new Map(readTable(seedDir, 'visits').filter((v) => v.provider_code === providerCode)
      .map((v) => [v.visit_id, v]));
    this.lines = groupBy(readTable(seedDir, 'line_items'), 'visit_id');
    this.prescriptions = new Map(readTable(seedDir, 'prescriptions').map((rx) => [rx.visit_id, rx]));
    this.prescriptionItems = groupBy(readTable(seedDir, 'prescription_items'), 'issue_number');
    this.prescriptionsByNumber = new Map([...this.prescriptions.values()].map((rx) => [rx.issue_number, rx]));
  }

  /** The patient a query names (identity token, and the same name and birth date), or undefined. */
  findPatient(query) {
    const patient = this.patients.get(query.identity_token);
    if (!patient || patient.name.normalize('NFC') !== query.name.normalize('NFC')) return undefined;
    return patient.birth_date === query.birth_date ? patient : undefined;
  }

  /** The patient's visits here whose days overlap the period (both ends inclusive). */
  visitsOf(patient, period) {
    return [...this.visits.values()].filter((v) => v.patient_id === patient.patient_id
      && v.start_date <= period.end && v.end_date >= period.start);
  }

  /** Document types this visit has (medical: receipt, statement, a prescription if one was issued). */
  documentTypes(visit) {
    if (visit.setting === 'pharmacy') return ['pharmacy_receipt'];
    const types = ['medical_receipt'];
    if (visit.statement_number) types.push('itemised_statement');
    if (this.prescriptions.has(visit.visit_id)) types.push('prescription');
    return types;
  }

  /** The document, or undefined when the visit has none of that type. */
  document(visit, type) {
    if (!this.documentTypes(visit).includes(type)) return undefined;
    const build = { medical_receipt: this.medicalReceipt, itemised_statement: this.statement,
      prescription: this.prescription, pharmacy_receipt: this.pharmacyReceipt }[type];
    return build.call(this, visit);
  }

  header(visit) {
    const patient = this.patientsById.get(visit.patient_id);
    return {
      visit_id: visit.visit_id,
      setting: visit.setting,
      patient: { patient_number: visit.patient_number, name: patient.name,
        resident_number_masked: patient.resident_number_masked },
      patient_category: visit.patient_category,
      treatment_period: { start: visit.start_date, end: visit.end_date },
    };
  }

  statementLines(visit) {
    return (this.lines.get(visit.visit_id) || []).filter((line) => line.item_type === 'statement');
  }

  medicalReceipt(visit) {
    const rows = new Map();
    for (const line of this.statementLines(visit)) {  // each receipt row is the sum of its statement lines
      const amounts = rows.get(line.category) || { copay: 0, insurer: 0, full_copay: 0, selective: 0, non_covered: 0 };
      for (const column of ['copay', 'insurer', 'full_copay', 'non_covered']) amounts[column] += line[column];
      rows.set(line.category, amounts);
    }
    const rowList = [...rows].map(([code, amounts]) => ({ code, amounts }));
    // the seed's copay_total / insurer_total are the visit's shares as HIRA truncates them: spread over the rows
    for (const [name, target] of [['copay', visit.copay_total], ['insurer', visit.insurer_total]]) {
      const shares = spread(target, rowList.map((row) => row.amounts[name]));
      rowList.forEach((row, i) => { row.amounts[name] = shares[i]; });
    }
    const column = (name) => rowList.reduce((total, row) => total + row.amounts[name], 0);
    const totals = { copay: column('copay'), insurer: column('insurer'), full_copay: column('full_copay'),
      selective: column('selective'), non_covered: column('non_covered') };
    totals.total_amount = totals.copay + totals.insurer + totals.full_copay + totals.selective + totals.non_covered;
    totals.ceiling_excess = visit.ceiling_excess;
    totals.patient_total = totals.copay - totals.ceiling_excess + totals.full_copay + totals.selective
      + totals.non_covered;
    const waived = visit.discount_covered + visit.discount_non_covered;  // 감면액·할인 shown on the receipt
    if (waived > 0) {
      totals.discount = { covered: visit.discount_covered, non_covered: visit.discount_non_covered };
    }
    totals.already_paid = 0;  // the seed has no earlier payment: each interim bill is a visit of its own
    totals.amount_due = floor10(Math.max(totals.patient_total - waived - totals.already_paid, 0));
    const paid = payment(visit);
    totals.unpaid = totals.amount_due - paid.total;
    const receipt = {
      document_type: 'medical_receipt', receipt_number: visit.receipt_number, ...this.header(visit),
      night: visit.night, holiday: visit.holiday, department: visit.department,
      diagnosis_codes: visit.diagnosis_codes, rows: rowList, totals, payment: paid,
      provider: providerBlock(this.providers.get(visit.provider_code)), issue_date: visit.issue_date,
    };
    if (visit.setting === 'inpatient') {
      receipt.inpatient_status = visit.inpatient_status;
      if (visit.room) receipt.room = visit.room;
    }
    return receipt;
  }

  statement(visit) {
    const lines = this.statementLines(visit).map((line) => {
      const out = { category: line.category, date: line.date, code: line.code, code_kind: line.code_kind,
        name: line.name, unit_price: line.unit_price, quantity: line.quantity, days: line.days, total: line.total,
        copay: line.copay, insurer: line.insurer, full_copay: line.full_copay, non_covered: line.non_covered };
      if (line.big_three) out.big_three = line.big_three;
      return out;
    });
    const columns = ['copay', 'insurer', 'full_copay', 'non_covered'];
    const subtotal = Object.fromEntries(columns.map((c) => [c, sum(lines, c)]));
    const adjustment = { copay: visit.copay_total - subtotal.copay, insurer: visit.insurer_total - subtotal.insurer,
      full_copay: 0, non_covered: 0 };
    const total = Object.fromEntries(columns.map((c) => [c, subtotal[c] + adjustment[c]]));
    for (const row of [subtotal, adjustment, total]) row.total = columns.reduce((t, c) => t + row[c], 0);
    return {
      document_type: 'itemised_statement', statement_number: visit.statement_number,
      receipt_number: visit.receipt_number, ...this.header(visit), lines,
      bottom_rows: { subtotal, adjustment, total },
      provider: providerBlock(this.providers.get(visit.provider_code)), issue_date: visit.issue_date,
    };
  }

  prescription(visit) {
    const rx = this.prescriptions.get(visit.visit_id);
    const patient = this.patientsById.get(visit.patient_id);
    return {
      document_type: 'prescription', issue_number: rx.issue_number, issue_date: rx.issue_date,
      validity_days: rx.validity_days, visit_id: visit.visit_id, insurance_type: rx.insurance_type,
      provider: providerBlock(this.providers.get(rx.provider_code)),
      patient: { name: patient.name, resident_number_masked: patient.resident_number_masked },
      diagnosis_codes: rx.diagnosis_codes,
      prescriber: { name: rx.prescriber_name, license_type: rx.prescriber_license_type,
        license_number: rx.prescriber_license_number },
      medications: (this.prescriptionItems.get(rx.issue_number) || []).map((item) => ({
        drug_code: item.drug_code, name: item.name, dose: item.dose, times_per_day: item.times_per_day,
        days: item.days, usage: item.usage, route: item.route })),
    };
  }

  pharmacyReceipt(visit) {
    const items = this.lines.get(visit.visit_id) || [];
    const money = (line) => ({ amount: line.total, copay: line.copay, insurer: line.insurer,
      non_covered: line.non_covered });
    const feeItems = items.filter((line) => line.item_type === 'pharmacy_fee')
      .map((line) => ({ code: line.code, name: line.name, ...money(line) }));
    const drugs = items.filter((line) => line.item_type === 'pharmacy_drug')
      .map((line) => ({ drug_code: line.code, name: line.name, dose: line.dose, times_per_day: line.times_per_day,
        days: line.days, ...money(line) }));
    const all = [...feeItems, ...drugs];
    const totals = { copay: visit.copay_total, insurer: visit.insurer_total, non_covered: sum(all, 'non_covered') };
    totals.total_amount = totals.copay + totals.insurer + totals.non_covered;
    totals.ceiling_excess = visit.ceiling_excess;
    totals.amount_received = totals.copay + totals.non_covered;
    totals.rounding_adjustment = { copay: visit.copay_total - sum(all, 'copay'),
      insurer: visit.insurer_total - sum(all, 'insurer') };
    const prescriber = this.providers.get(visit.prescriber_provider_code);
    const rx = this.prescriptionsByNumber.get(visit.prescription_issue_number);
    const rxItems = rx ? this.prescriptionItems.get(rx.issue_number) || [] : drugs;
    return {
      document_type: 'pharmacy_receipt', receipt_number: visit.receipt_number, visit_id: visit.visit_id,
      patient: { name: this.patientsById.get(visit.patient_id).name },
      patient_category: visit.patient_category, dispensing_date: visit.start_date,
      night: visit.night, holiday: visit.holiday, prescription_issue_number: visit.prescription_issue_number,
      prescriber: { provider_code: prescriber.provider_code, facility_type: prescriber.facility_type,
        name: prescriber.name },
      dispensing_days: Math.max(...rxItems.map((item) => item.days)),  // the longest course prescribed
      fee_items: feeItems, drugs, totals, payment: payment(visit),
      provider: providerBlock(this.providers.get(visit.provider_code)), pharmacist: visit.pharmacist,
      issue_date: visit.issue_date,
    };
  }
}

module.exports = { Emr };
