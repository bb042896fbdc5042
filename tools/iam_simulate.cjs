// Simulates IAM requests with @cloud-copilot/iam-simulate (pinned in package.json), for the IAM access proof
// in tests/unit/test_iam_simulation.py. Reads a JSON array of simulations on stdin (iam-simulate's Simulation
// shape) and prints, for each, {"result": "Allowed" | "ImplicitlyDenied" | "ExplicitlyDenied"} or {"errors": ...}.
const { runSimulation } = require('@cloud-copilot/iam-simulate')

async function main() {
  const chunks = []
  for await (const chunk of process.stdin) chunks.push(chunk)
  const simulations = JSON.parse(Buffer.concat(chunks).toString('utf8'))
  const out = []
  for (const simulation of simulations) {
    const response = await runSimulation(simulation, {})
    out.push(response.resultType === 'error' ? { errors: response.errors } : { result: response.overallResult })
  }
  process.stdout.write(JSON.stringify(out))
}

main().catch((error) => { console.error(error); process.exit(1) })
