package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	kservev1beta1 "github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/canary-guard/canary-guard/policy"
)

func newStatusCommand() *cobra.Command {
	var (
		kube          kubeFlags
		allNamespaces bool
		configFile    string
		policyDir     string
		output        string
	)
	cmd := &cobra.Command{
		Use:   "status [NAME]",
		Short: "Show where each InferenceService's rollout stands and the next step the policy admits",
		Long: `For each InferenceService (one by NAME, the namespace's, or all with -A): the
deployment mode, the stable and canary revisions and their traffic, the canary
percent, whether the canary revision is ready, the next step the policy would
admit now (and the earliest time, when a step interval is set), and what blocks it.

The next step is decided by the same code as the webhook, with --config and
--policy-dir (give it the configuration canary-guard runs with).`,
		Example: `  canary-guard status -n models
  canary-guard status -A --config config.yaml
  canary-guard status my-model -n models -o json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return fmt.Errorf("-o %q: want text or json", output)
			}
			c, ns, err := kube.client()
			if err != nil {
				return err
			}
			p, conf, err := policy.Loader{ConfigFile: configFile, PolicyDir: policyDir}.Load(cmd.Context())
			if err != nil {
				return err
			}
			// As eval does: what loaded but is likely a mistake.
			for _, warning := range slices.Concat(p.Warnings, conf.Warnings, policy.RuleEnforcementWarnings(p, conf)) {
				fmt.Fprintf(cmd.ErrOrStderr(), "WARN  %s\n", warning)
			}
			g, err := policy.NewGuard(p, conf)
			if err != nil {
				return err
			}
			var items []kservev1beta1.InferenceService
			switch {
			case len(args) == 1:
				isvc := &kservev1beta1.InferenceService{}
				if err := c.Get(cmd.Context(), client.ObjectKey{Namespace: ns, Name: args[0]}, isvc); err != nil {
					return fmt.Errorf("getting InferenceService %s/%s: %w", ns, args[0], err)
				}
				items = append(items, *isvc)
			default:
				list := &kservev1beta1.InferenceServiceList{}
				opts := []client.ListOption{}
				if !allNamespaces {
					opts = append(opts, client.InNamespace(ns))
				}
				if err := c.List(cmd.Context(), list, opts...); err != nil {
					return fmt.Errorf("listing InferenceServices: %w", err)
				}
				items = list.Items
			}
			rows := make([]statusRow, 0, len(items))
			for i := range items {
				isvc := &items[i]
				steps, err := g.NextSteps(cmd.Context(), isvc, policy.UserInfo{})
				if err != nil {
					return fmt.Errorf("%s/%s: %w", isvc.Namespace, isvc.Name, err)
				}
				facts, err := policy.BuildFacts(&policy.Request{Operation: policy.OperationUpdate, Object: isvc, OldObject: isvc},
					policy.FactsOptions{Settings: conf.For(isvc.Namespace), Now: time.Now()})
				if err != nil {
					return err
				}
				rows = append(rows, statusRow{Namespace: isvc.Namespace, Name: isvc.Name, Mode: string(facts.DeploymentMode), Components: steps})
			}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			}
			printStatus(cmd.OutOrStdout(), rows)
			return nil
		},
	}
	f := cmd.Flags()
	kube.add(f, "the namespace of the InferenceServices (default: the context's)")
	f.BoolVarP(&allNamespaces, "all-namespaces", "A", false, "list InferenceServices in every namespace")
	f.StringVar(&configFile, "config", "", "canary-guard's configuration YAML; empty uses the defaults")
	f.StringVar(&policyDir, "policy-dir", "", "directory of extra .rego files")
	f.StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

type statusRow struct {
	Namespace  string        `json:"namespace"`
	Name       string        `json:"name"`
	Mode       string        `json:"deploymentMode"`
	Components []policy.Step `json:"components"`
}

func printStatus(out io.Writer, rows []statusRow) {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAMESPACE\tNAME\tMODE\tCOMPONENT\tSTABLE\tCANARY\tPERCENT\tREADY\tNEXT\tBLOCKED BY")
	for _, r := range rows {
		for _, s := range r.Components {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Namespace, r.Name, r.Mode, s.Component,
				orDash(s.StableRevision), orDash(s.CanaryRevision), percentText(s.Percent), s.CanaryReady, nextText(s), blockedText(s))
		}
		if len(r.Components) == 0 {
			fmt.Fprintf(w, "%s\t%s\t%s\t-\t-\t-\t-\t-\t-\t-\n", r.Namespace, r.Name, r.Mode)
		}
	}
	_ = w.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func percentText(p *int64) string {
	if p == nil {
		return "100 (no canary)"
	}
	return strconv.FormatInt(*p, 10)
}

func nextText(s policy.Step) string {
	if !s.HasNext {
		return "- (no rollout)"
	}
	next := "promote (remove canaryTrafficPercent)"
	if s.Next != nil {
		next = strconv.FormatInt(*s.Next, 10)
	}
	switch {
	case s.NextAllowed:
		return next + " now"
	case !s.NotBefore.IsZero() && time.Now().Before(s.NotBefore):
		return next + " at " + s.NotBefore.UTC().Format(time.RFC3339)
	default:
		return next + " (blocked)"
	}
}

func blockedText(s policy.Step) string {
	if len(s.BlockedBy) == 0 {
		return "-"
	}
	parts := make([]string, len(s.BlockedBy))
	for i, v := range s.BlockedBy {
		parts[i] = v.String()
	}
	return strings.Join(parts, "; ")
}
