// Test helper: a real reward server on 127.0.0.1 speaking OpenRLHF's remote-reward protocol, its
// rewards computed by an ONNX reward model through the scorer's own onnx source. Its behaviour
// (answer 500 for a while, stall, miscount) is switched by the test; it counts what it saw.
import type { Domain, Tokenizer } from "@odpo/core"
import { Effect, Exit, Scope } from "effect"
import { createServer, type Server } from "node:http"
import { join } from "node:path"
import { randomBagOfWords, writeBagOfWordsRewardModel } from "../src/BagOfWords.ts"
import { openOnnxRewardModel } from "../src/OnnxRewardModel.ts"
import { OnnxSpec } from "../src/RewardSpec.ts"
import { Schema } from "effect"

export interface Behaviour {
  /** Answer 500 to this many requests first (after `answerFirst`). */
  fail500: number
  /** Answer this many requests normally before the 500s begin (e.g. a run's reward check). */
  answerFirst: number
  /** Hold each answer this long. */
  delayMs: number
  /** Answer with one reward fewer than asked. */
  miscount: boolean
}

export interface RewardServer {
  readonly url: string
  readonly behaviour: Behaviour
  readonly stats: { requests: number; inFlight: number; maxInFlight: number; queries: number }
  /** The model's reward of one text (what the server answers for a query). */
  readonly rewardOf: (texts: ReadonlyArray<string>) => Promise<Array<number>>
  readonly close: () => Promise<void>
}

/** Write a bag-of-words reward model for `tokenizer` into `dir` (seeded) and serve it. */
export const startRewardServer = async (dir: string, tokenizer: Tokenizer.Tokenizer, seed = 5): Promise<RewardServer> => {
  const path = join(dir, "rm.onnx")
  await Effect.runPromise(writeBagOfWordsRewardModel(path, { tokenizer, weights: randomBagOfWords({ vocabSize: tokenizer.vocabSize, dim: 4, labels: 1, seed, scale: 2 }) }))
  const scope = await Effect.runPromise(Scope.make())
  const model = await Effect.runPromise(Scope.provide(scope)(openOnnxRewardModel(Schema.decodeUnknownSync(OnnxSpec)({ type: "onnx", path }))))
  const rewardOf = (texts: ReadonlyArray<string>) =>
    Effect.runPromise(model.score(texts.map((t): Domain.ScoreItem => ({ promptId: "q", promptText: "", completionText: t, completionTokenIds: [], finishReason: "eos" })))).then((r) => [...r])
  const behaviour: Behaviour = { fail500: 0, answerFirst: 0, delayMs: 0, miscount: false }
  const stats = { requests: 0, inFlight: 0, maxInFlight: 0, queries: 0 }
  const server: Server = createServer((req, res) => {
    let body = ""
    req.on("data", (d) => (body += String(d)))
    req.on("end", async () => {
      stats.requests++
      stats.inFlight++
      stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight)
      try {
        if (behaviour.delayMs > 0) await new Promise((r) => setTimeout(r, behaviour.delayMs))
        if (behaviour.answerFirst > 0) behaviour.answerFirst--
        else if (behaviour.fail500 > 0) {
          behaviour.fail500--
          res.writeHead(500).end("reward model overloaded")
          return
        }
        const { query } = JSON.parse(body) as { query: Array<string> }
        stats.queries += query.length
        const rewards = await rewardOf(query)
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ rewards: behaviour.miscount ? rewards.slice(1) : rewards }))
      } catch (e) {
        // A request the client gave up on may finish after close() disposed the model.
        if (!res.headersSent) res.writeHead(500).end(String(e))
      } finally {
        stats.inFlight--
      }
    })
  })
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r))
  const port = (server.address() as { port: number }).port
  return {
    url: `http://127.0.0.1:${port}/get_reward`,
    behaviour,
    stats,
    rewardOf,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((r) => server.close(() => r()))
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  }
}
