// Validates a CSAF 2.0 document with the BSI's csaf-validator-lib: the JSON schema
// (strict) and every mandatory test of section 6.1. Prints each failure; exit 1 if any.
import { readFileSync } from 'node:fs'
import validateStrict from '@secvisogram/csaf-validator-lib/validateStrict.js'
import * as schemaTests from '@secvisogram/csaf-validator-lib/schemaTests.js'
import * as mandatoryTests from '@secvisogram/csaf-validator-lib/mandatoryTests.js'

const doc = JSON.parse(readFileSync(process.argv[2], 'utf8'))
const result = await validateStrict(
  [...Object.values(schemaTests), ...Object.values(mandatoryTests)],
  doc,
)
for (const t of result.tests) {
  for (const e of t.errors) console.log(`${t.name} ${e.instancePath} ${e.message}`)
}
console.log(JSON.stringify({ isValid: result.isValid, tests: result.tests.length }))
process.exit(result.isValid ? 0 : 1)
