// Command canary-guard is a Kubernetes admission webhook that makes every
// model change on a KServe InferenceService enter as a canary and move
// forward in safe, capped steps.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := newRootCommand().ExecuteContext(ctx); err != nil {
		// eval and verify exit 1 for a denial or a failed case and 2 for an
		// error; everything else exits 1.
		code, report := exitStatus(err)
		if report {
			fmt.Fprintln(os.Stderr, "Error:", err)
		}
		stop()
		os.Exit(code)
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "canary-guard",
		Short: "Admission webhook that makes every KServe model change a capped canary rollout",
		Long: `canary-guard guards KServe InferenceServices: a model change enters as a canary
(the mutating webhook injects canaryTrafficPercent), the percent rises in capped steps,
rollbacks always pass, and Rego policies add the platform team's own rules.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCommand(), newEvalCommand(), newVerifyCommand(), newStatusCommand(), newDoctorCommand(), newUnregisterCommand(), newVersionCommand())
	return root
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "canary-guard", version)
		},
	}
}
