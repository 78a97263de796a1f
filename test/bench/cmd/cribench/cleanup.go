package main

import (
	"context"
	"flag"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// cmdCleanup removes every pod in the cribench namespace on the given endpoints: the last
// resort after an interrupted run, before the runtimes are stopped.
func cmdCleanup(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("cribench cleanup", flag.ExitOnError)
	var ef endpointFlags
	ef.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	eps, err := ef.build()
	if err != nil {
		return err
	}
	for _, e := range eps {
		resp, err := e.RT.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
		if err != nil {
			fmt.Printf("%s: ListPodSandbox: %v\n", e.Name, err)
			continue
		}
		n := 0
		for _, p := range resp.Items {
			if p.GetMetadata().GetNamespace() != "cribench" {
				continue
			}
			if _, err := e.RT.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: p.Id}); err != nil {
				fmt.Printf("%s: StopPodSandbox %s: %v\n", e.Name, p.Id, err)
			}
			if _, err := e.RT.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: p.Id}); err != nil {
				fmt.Printf("%s: RemovePodSandbox %s: %v\n", e.Name, p.Id, err)
				continue
			}
			n++
		}
		fmt.Printf("%s: removed %d cribench pods\n", e.Name, n)
		e.Close()
	}
	return nil
}
