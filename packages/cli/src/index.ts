export * as Cli from "./Cli.ts"
export * as Format from "./Format.ts"
