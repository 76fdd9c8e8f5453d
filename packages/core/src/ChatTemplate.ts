/**
 * Chat prompts: a list of {role, content} messages, checked, and rendered into the policy's prompt
 * text by the tokenizer's Jinja `chat_template` (or one the config names) with @huggingface/jinja —
 * the renderer transformers.js uses — with the generation prompt added.
 */
import { Template } from "@huggingface/jinja"
import type { Tokenizer } from "./Tokenizer.ts"

export const ROLES = ["system", "user", "assistant", "tool"] as const

export interface Message {
  readonly role: (typeof ROLES)[number]
  readonly content: string
}

/** A prompt value: text, or a chat; anything else (or a message with an unknown role) is the error string. */
export const parsePromptValue = (value: unknown): { text: string } | { chat: ReadonlyArray<Message> } | { error: string } => {
  if (typeof value === "string") return { text: value }
  if (!Array.isArray(value)) return { error: `expected a string or a list of {role, content} messages, found ${JSON.stringify(value)?.slice(0, 80)}` }
  if (value.length === 0) return { error: "the chat holds no messages" }
  for (const [i, m] of value.entries()) {
    const role = (m as { role?: unknown })?.role
    const content = (m as { content?: unknown })?.content
    if (typeof role !== "string" || typeof content !== "string") {
      return { error: `message ${i} must be {"role": string, "content": string}, found ${JSON.stringify(m)?.slice(0, 80)}` }
    }
    if (!(ROLES as ReadonlyArray<string>).includes(role)) {
      return { error: `message ${i} has role "${role}"; roles are ${ROLES.join(", ")}` }
    }
  }
  return { chat: value as ReadonlyArray<Message> }
}

/** A compiled template; `source` names where it came from in messages. */
export interface ChatRenderer {
  readonly source: string
  readonly render: (messages: ReadonlyArray<Message>) => string
}

/**
 * The renderer for `tokenizer`: `override` (a template's text and where it came from) first, else
 * the tokenizer's chat_template; null when there is neither (the caller says what to do).
 */
export const chatRenderer = (tokenizer: Tokenizer, override?: { readonly text: string; readonly source: string }): ChatRenderer | null => {
  const text = override?.text ?? tokenizer.chat?.template ?? null
  if (text === null) return null
  const template = new Template(text)
  return {
    source: override?.source ?? "the tokenizer's chat_template",
    render: (messages) =>
      template.render({
        messages,
        add_generation_prompt: true,
        bos_token: tokenizer.chat?.bosToken ?? "",
        eos_token: tokenizer.chat?.eosToken ?? ""
      })
  }
}
