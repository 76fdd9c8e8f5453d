export * as Cli from "./Cli.ts"
export * as Format from "./Format.ts"
export * as Services from "./Services.ts"
export * as TrainRm from "./commands/trainRm.ts"
