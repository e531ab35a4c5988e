// Rows checked in the browser against the JSON Schema the OpenAPI document publishes for each table's row
// (@cfworker/json-schema: it interprets schemas, where Ajv compiles them with new Function, which this page's
// Content-Security-Policy forbids). The server still decides: this only catches what is certain to be refused.

import { Validator } from "./vendor/json-schema/index.js";

// A field's own schema without the null an optional field also takes.
export function fieldSchema(schema) {
  const options = schema.anyOf || [schema];
  const plain = options.find((s) => s.type !== "null") || schema;
  return { ...plain, description: schema.description || plain.description, optional: options.some((s) => s.type === "null") };
}

function types(schema) {
  return [].concat(schema.type || []);
}

// Text typed or pasted into a field, as the JSON the API takes: digits as a number where an integer is wanted
// (as a string past 2^53, which the API takes for 64-bit keys), true/false for a boolean; other text stays text.
export function typed(text, schema) {
  const plain = fieldSchema(schema);
  if (text === "" || text === undefined || text === null) return plain.optional ? null : undefined;
  const accepts = types(plain);
  if (accepts.includes("integer") && /^-?\d+$/.test(text)) return Number.isSafeInteger(Number(text)) ? Number(text) : text;
  if (accepts.includes("number") && text.trim() !== "" && Number.isFinite(Number(text))) return Number(text);
  if (accepts.includes("boolean") && (text === "true" || text === "false")) return text === "true";
  return text;
}

function readable(error) {
  const m = /required property "(.*)"/.exec(error.error);
  if (error.keyword === "required" && m) return [m[1], "is required"];
  const field = decodeURIComponent(error.instanceLocation.replace(/^#\/?/, "").split("/")[0] || "");
  const text = {
    maxLength: () => error.error.replace(/^String is too long \((\d+) > (\d+)\)\.$/, "is longer than $2 characters ($1)"),
    type: () => error.error.replace(/^Instance type "(.*)" is invalid\. Expected (.*)\.$/, "must be $2, not $1"),
    enum: () => "is not one of the allowed values",
    format: () => error.error.replace(/^String does not match format "(.*)"\.$/, "is not a valid $1"),
    additionalProperties: () => "is not a field of this table",
    false: () => "is not a field of this table",
  }[error.keyword];
  return [field, text ? text() : error.error];
}

// {field: [messages]} for a row; empty when the schema takes it.
export function problems(rowSchema, row) {
  const result = new Validator(rowSchema, "2020-12", false).validate(row);
  const found = {};
  for (const error of result.errors) {
    if (["properties", "anyOf", "allOf", "oneOf", "$ref"].includes(error.keyword)) continue; // summaries of the errors below
    if (error.keyword === "type" && /Expected "null"/.test(error.error)) continue; // the null branch of an optional field
    const [field, message] = readable(error);
    (found[field] ||= []).includes(message) || found[field].push(message);
  }
  return found;
}
