/**
 * The procedure catalog: every procedure reflection describes (wamp.reflection.procedure.list and
 * describe) with its description, its JSON Schemas, and a form generated from its arguments' schema
 * to call it; the result, the streamed progressive results (with a cancel button) or the error
 * (with its typed error's tag, from wamp.reflection.error.describe) appear below the form.
 */
import { connect, describeError, element } from "./connect.js"
import type { AutobahnSession, PendingCall } from "../../src/procedures/Remote.js"

type JsonSchema = { readonly [key: string]: unknown }

interface ProcedureDescription {
  readonly uri: string
  readonly description: string | null
  readonly transactional: boolean
  readonly streaming: boolean
  readonly args: { readonly positional: ReadonlyArray<string>; readonly kwargs: JsonSchema }
  readonly result: JsonSchema
  readonly progress: JsonSchema | null
  readonly errors: ReadonlyArray<string>
}

interface ErrorDescription {
  readonly uri: string
  readonly tag: string | null
  readonly kwargs: JsonSchema
}

const catalog = document.getElementById("catalog")!

/** args[0] of an autobahn result (a single positional value arrives as is). */
const firstArg = (value: unknown): unknown =>
  typeof value === "object" && value !== null && "args" in value && Array.isArray((value as { args: unknown }).args)
    ? (value as { args: ReadonlyArray<unknown> }).args[0]
    : value

const json = (value: unknown): string => JSON.stringify(value, null, 2)

/** The JSON type of a property schema; an optional field is `anyOf: [T, null]`. */
const typeOf = (schema: JsonSchema | undefined): string => {
  if (schema === undefined) return "any"
  if (typeof schema["type"] === "string") return schema["type"]
  const options = schema["anyOf"] ?? schema["oneOf"]
  if (Array.isArray(options)) {
    const types = options.map((option) => typeOf(option as JsonSchema)).filter((type) => type !== "null")
    if (types.length === 1) return types[0]!
  }
  return "any"
}

const inputFor = (name: string, schema: JsonSchema | undefined, required: boolean): HTMLElement => {
  const type = typeOf(schema)
  const label = element("label", { class: "field" })
  label.append(element("span", { class: "name" }, `${name}${required ? "" : " (optional)"}`), element("span", { class: "type" }, type))
  const input = type === "boolean"
    ? element("input", { type: "checkbox", name, "data-type": type })
    : type === "integer" || type === "number"
    ? element("input", { type: "number", name, "data-type": type, step: type === "integer" ? "1" : "any" })
    : type === "string"
    ? element("input", { type: "text", name, "data-type": type })
    : element("textarea", { name, "data-type": type, rows: "2", placeholder: "JSON" })
  if (required && type !== "boolean") input.setAttribute("required", "")
  label.append(input)
  return label
}

/** The kwargs a form describes: empty optional fields are left out. */
const kwargsOf = (form: HTMLFormElement): Record<string, unknown> => {
  const kwargs: Record<string, unknown> = {}
  for (const input of Array.from(form.querySelectorAll<HTMLInputElement | HTMLTextAreaElement>("[data-type]"))) {
    const type = input.dataset["type"]
    if (type === "boolean") {
      kwargs[input.name] = (input as HTMLInputElement).checked
    } else if (input.value !== "") {
      kwargs[input.name] = type === "integer" || type === "number" ? Number(input.value) : type === "string" ? input.value : JSON.parse(input.value)
    }
  }
  return kwargs
}

const schemaBlock = (title: string, schema: unknown): Array<HTMLElement> => [element("h4", {}, title), element("pre", { class: "schema" }, json(schema))]

const render = (session: AutobahnSession, procedure: ProcedureDescription, errors: ReadonlyMap<string, ErrorDescription>): HTMLElement => {
  const section = element("section", { class: "procedure", "data-uri": procedure.uri })
  const heading = element("h2")
  heading.append(element("code", {}, procedure.uri))
  if (procedure.transactional) heading.append(element("span", { class: "badge" }, "transactional"))
  if (procedure.streaming) heading.append(element("span", { class: "badge streaming" }, "streaming"))
  section.append(heading)
  if (procedure.description !== null) section.append(element("p", { class: "description" }, procedure.description))

  const form = element("form", { class: "call" })
  const properties = (procedure.args.kwargs["properties"] ?? {}) as Record<string, JsonSchema>
  const required = new Set((procedure.args.kwargs["required"] ?? []) as ReadonlyArray<string>)
  for (const [name, schema] of Object.entries(properties)) form.append(inputFor(name, schema, required.has(name)))
  const progressive = element("input", { type: "checkbox", name: "receive_progress" })
  if (procedure.streaming) {
    progressive.checked = true
    const label = element("label", { class: "field option" })
    label.append(progressive, element("span", {}, "progressive results"))
    form.append(label)
  }
  const callButton = element("button", { type: "submit", class: "call-button" }, "Call")
  const cancelButton = element("button", { type: "button", class: "cancel", disabled: "" }, "Cancel")
  form.append(element("div", { class: "buttons" }))
  form.lastElementChild!.append(callButton, ...(procedure.streaming ? [cancelButton] : []))
  section.append(form)

  const outcome = element("div", { class: "outcome", "data-status": "idle" })
  const status = element("span", { class: "status" }, "not called yet")
  const streamed = element("ol", { class: "progress" })
  const result = element("pre", { class: "result" })
  outcome.append(status, streamed, result)
  section.append(outcome)

  const schemas = element("details", { class: "schemas" })
  schemas.append(element("summary", {}, "JSON Schema"))
  schemas.append(...schemaBlock("arguments (kwargs)", procedure.args.kwargs), ...schemaBlock("result (args[0])", procedure.result))
  if (procedure.progress !== null) schemas.append(...schemaBlock("progressive result (args[0])", procedure.progress))
  for (const uri of procedure.errors) schemas.append(...schemaBlock(`error ${uri} (kwargs)`, errors.get(uri)?.kwargs ?? {}))
  section.append(schemas)

  let pending: PendingCall | undefined
  const finish = (state: string, text: string, body: unknown) => {
    pending = undefined
    outcome.dataset["status"] = state
    status.textContent = text
    result.textContent = body === undefined ? "" : json(body)
    callButton.disabled = false
    cancelButton.disabled = true
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault()
    let kwargs: Record<string, unknown>
    try {
      kwargs = kwargsOf(form)
    } catch (cause) {
      return finish("error", `invalid input: ${String(cause)}`, undefined)
    }
    const stream = procedure.streaming && progressive.checked
    streamed.replaceChildren()
    result.textContent = ""
    outcome.dataset["status"] = stream ? "streaming" : "calling"
    status.textContent = stream ? "streaming…" : "calling…"
    callButton.disabled = true
    cancelButton.disabled = !stream
    const started = performance.now()
    try {
      pending = session.call(procedure.uri, [], kwargs, stream ? { receive_progress: true } : {})
    } catch (cause) {
      return finish("error", String(cause), undefined)
    }
    pending.onProgress?.((value) => {
      streamed.append(element("li", {}, JSON.stringify(firstArg(value))))
      status.textContent = `streaming… ${streamed.childElementCount} received`
    })
    pending.then(
      (value) => finish("ok", `ok in ${(performance.now() - started).toFixed(1)} ms`, firstArg(value)),
      (error: unknown) => {
        const { kwargs: details, message, uri } = describeError(error)
        const tag = errors.get(uri)?.tag
        const canceled = uri === "wamp.error.canceled"
        finish(canceled ? "canceled" : "error", `${uri}${tag ? ` (${tag})` : ""}: ${message}`, details)
        outcome.dataset["errorUri"] = uri
        if (tag) outcome.dataset["errorTag"] = tag
      }
    )
  })
  cancelButton.addEventListener("click", () => pending?.cancel?.({ mode: "kill" }))
  return section
}

connect(({ session }) => {
  const call = (uri: string, args: Array<unknown> = []) => Promise.resolve(session.call(uri, args)).then(firstArg)
  catalog.dataset["state"] = "loading"
  void (async () => {
    try {
      const uris = (await call("wamp.reflection.procedure.list")) as ReadonlyArray<string>
      const errorUris = (await call("wamp.reflection.error.list")) as ReadonlyArray<string>
      const errors = new Map<string, ErrorDescription>()
      for (const uri of errorUris) errors.set(uri, (await call("wamp.reflection.error.describe", [uri])) as ErrorDescription)
      const sections: Array<HTMLElement> = []
      for (const uri of uris) sections.push(render(session, (await call("wamp.reflection.procedure.describe", [uri])) as ProcedureDescription, errors))
      catalog.replaceChildren(...sections)
      catalog.dataset["state"] = "ready"
      document.getElementById("count")!.textContent = `${uris.length} procedures`
    } catch (error) {
      const { message, uri } = describeError(error)
      catalog.dataset["state"] = "error"
      catalog.replaceChildren(element("p", { class: "error" }, `reflection failed: ${uri}: ${message}`))
    }
  })()
})
