// Package faults holds the fault tests: canary-guard serve runs as a
// process under load from the load generator while a fault is injected
// (a broken policy or configuration, a slow rule, SIGTERM, a certificate
// rotation, a flood above capacity), and each test counts the requests
// that failed or got a wrong answer. The tests are the package; it has
// no code of its own.
package faults
