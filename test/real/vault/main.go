// Command vault is real HashiCorp Vault, built from its Go module for the real
// test suite only (never shipped). It does what Vault's own main.go does.
package main

import (
	"os"

	"github.com/hashicorp/vault/command"
)

func main() {
	os.Exit(command.Run(os.Args[1:]))
}
