/// The page at `GET /docs`: renders `/openapi.json` in the browser with a small self-contained script
/// (no CDN, no build step): every operation with its description, request schema and responses,
/// grouped by tag, schemas shown as nested field lists.
let docsPage = #"""
<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>qwen3-embed API</title>
<style>
body{font-family:system-ui,sans-serif;max-width:60em;margin:1em auto;padding:0 1em;line-height:1.4}
details{border:1px solid #ccc;border-radius:4px;margin:.4em 0;padding:.3em .6em}
summary{cursor:pointer}
.method{display:inline-block;min-width:4em;font-weight:bold;font-family:monospace}
.get{color:#06c}.post{color:#080}
code,.path{font-family:monospace}
ul.schema{margin:.2em 0;padding-left:1.2em}
.type{color:#666;font-family:monospace}
.req{color:#b00;font-size:.85em}
#error{color:#b00}
</style></head><body>
<h1 id="title">API</h1>
<p id="description"></p>
<p>The machine-readable description is at <a href="/openapi.json">/openapi.json</a>.</p>
<p id="error"></p>
<div id="operations"></div>
<script>
"use strict";
let components = {};
function resolve(schema) {
  if (schema && schema.$ref) return components[schema.$ref.split("/").pop()] || {};
  return schema || {};
}
function typeName(schema) {
  schema = resolve(schema);
  if (schema.oneOf) return schema.oneOf.map(typeName).join(" | ");
  if (schema.enum) return schema.enum.map(v => JSON.stringify(v)).join(" | ");
  if (schema.type === "array") return typeName(schema.items) + "[]";
  return schema.type || "any";
}
function render(schema, depth) {
  schema = resolve(schema);
  const list = document.createElement("ul");
  list.className = "schema";
  if (depth > 6) return list;
  if (schema.type === "object" && schema.properties) {
    const required = new Set(schema.required || []);
    for (const [name, property] of Object.entries(schema.properties)) {
      const item = document.createElement("li");
      const code = document.createElement("code");
      code.textContent = name;
      item.append(code, " ");
      const type = document.createElement("span");
      type.className = "type";
      type.textContent = typeName(property);
      item.append(type);
      if (required.has(name)) {
        const mark = document.createElement("span");
        mark.className = "req";
        mark.textContent = " required";
        item.append(mark);
      }
      const resolved = resolve(property);
      if (resolved.description) item.append(" — " + resolved.description);
      const inner = resolved.type === "array" ? resolve(resolved.items) : resolved;
      if (inner.type === "object" && inner.properties) item.append(render(inner, depth + 1));
      if (inner.oneOf) for (const option of inner.oneOf) {
        const resolvedOption = resolve(option);
        if (resolvedOption.type === "object" && resolvedOption.properties) item.append(render(resolvedOption, depth + 1));
      }
      list.append(item);
    }
  } else {
    const item = document.createElement("li");
    const type = document.createElement("span");
    type.className = "type";
    type.textContent = typeName(schema);
    item.append(type);
    if (schema.description) item.append(" — " + schema.description);
    const inner = schema.type === "array" ? resolve(schema.items) : null;
    if (inner && inner.type === "object" && inner.properties) item.append(render(inner, depth + 1));
    list.append(item);
  }
  return list;
}
function section(title, content) {
  const wrapper = document.createElement("div");
  const heading = document.createElement("h4");
  heading.textContent = title;
  wrapper.append(heading, content);
  return wrapper;
}
async function main() {
  let spec;
  try {
    const response = await fetch("/openapi.json");
    if (!response.ok) throw new Error("HTTP " + response.status);
    spec = await response.json();
  } catch (error) {
    document.getElementById("error").textContent = "Could not load /openapi.json: " + error.message;
    return;
  }
  components = (spec.components || {}).schemas || {};
  document.getElementById("title").textContent = spec.info.title + " " + spec.info.version;
  document.getElementById("description").textContent = spec.info.description || "";
  const byTag = new Map();
  for (const [path, methods] of Object.entries(spec.paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      const tag = (operation.tags || ["Other"])[0];
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push([path, method, operation]);
    }
  }
  const container = document.getElementById("operations");
  for (const [tag, operations] of byTag) {
    const heading = document.createElement("h2");
    heading.textContent = tag;
    container.append(heading);
    operations.sort((a, b) => a[0].localeCompare(b[0]));
    for (const [path, method, operation] of operations) {
      const details = document.createElement("details");
      details.id = operation.operationId;
      const summary = document.createElement("summary");
      const verb = document.createElement("span");
      verb.className = "method " + method;
      verb.textContent = method.toUpperCase();
      const where = document.createElement("span");
      where.className = "path";
      where.textContent = path;
      summary.append(verb, " ", where, " — " + operation.summary);
      details.append(summary);
      const description = document.createElement("p");
      description.textContent = operation.description || "";
      details.append(description);
      const body = operation.requestBody && operation.requestBody.content["application/json"];
      if (body) details.append(section("Request body (application/json)", render(body.schema, 0)));
      for (const [status, response] of Object.entries(operation.responses || {})) {
        const [type, media] = Object.entries(response.content || {})[0] || ["", {}];
        details.append(section("Response " + status + " (" + type + "): " + response.description, render(media.schema, 0)));
      }
      container.append(details);
    }
  }
}
main();
</script>
</body></html>
"""#
