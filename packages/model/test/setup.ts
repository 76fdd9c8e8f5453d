// Every test file runs on tfjs's pure-JS cpu backend, quietly (PROD silences the node-backend banner).
import * as tf from "@tensorflow/tfjs-core"
import "@tensorflow/tfjs-backend-cpu"
import "../../../scripts/node20-polyfills.mjs"

tf.env().set("PROD", true)
await tf.setBackend("cpu")
