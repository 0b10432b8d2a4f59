// Validates CSAF 2.0 documents with the BSI csaf-validator-lib (scripts/npmtools.sh): the
// official CSAF 2.0 JSON schema in its strict form (no unknown properties) and every mandatory
// test of CSAF 2.0 section 6.1. Usage: node csaf_validate.mjs LIB_DIR FILE...
// Prints one JSON object per file: {"file", "isValid", "failures": [{"test", "errors"}]};
// exits 1 if any file is invalid.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

const [lib, ...files] = process.argv.slice(2)
const load = (name) => import(pathToFileURL(join(lib, name)).href)
const schema = await load('schemaTests.js')
const mandatory = await load('mandatoryTests.js')
const validateStrict = (await load('validateStrict.js')).default
const tests = [schema.csaf_2_0_strict, ...Object.values(mandatory)]

let allValid = true
for (const file of files) {
  const doc = JSON.parse(readFileSync(file, 'utf8'))
  const result = await validateStrict(tests, doc)
  const failures = result.tests
    .filter((t) => !t.isValid)
    .map((t) => ({ test: t.name, errors: t.errors }))
  allValid = allValid && result.isValid
  console.log(JSON.stringify({ file, isValid: result.isValid, tests: result.tests.length, failures }))
}
process.exit(allValid ? 0 : 1)
