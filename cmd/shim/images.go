package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/crishim/crishim/images"
)

// imagesRoot is the image store directory under the root dir.
func imagesRoot(cfg Config) string { return filepath.Join(cfg.RootDir, "images") }

// newImagesCommand is `shim images …`: store operations that work with or without a running
// daemon (the store is safe to share, see package images).
func newImagesCommand(configPath *string) *cobra.Command {
	cmd := &cobra.Command{Use: "images", Short: "Image store operations"}
	cmd.AddCommand(&cobra.Command{
		Use:   "import FILE|-",
		Short: "Load a `docker save` or OCI-layout tarball into the image store",
		Long: "Load a `docker save` archive or an OCI image layout tarball (FILE, or - for stdin) into\n" +
			"the image store. A running daemon sees the images on its next lookup.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImport(cmd, *configPath, cmd.Flags().Changed("config"), args[0])
		},
	})
	return cmd
}

func runImport(cmd *cobra.Command, configPath string, explicit bool, file string) error {
	cfg, log, err := loadConfigAndLogger(configPath, explicit)
	if err != nil {
		return err
	}
	var in io.Reader = cmd.InOrStdin()
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	svc, err := images.New(cfg.Images, imagesRoot(cfg), log.With("component", "images"))
	if err != nil {
		return fmt.Errorf("image store: %w", err)
	}
	imgs, err := svc.Import(cmd.Context(), in, cmd.OutOrStdout())
	if err != nil {
		return fmt.Errorf("import %s: %w", file, err)
	}
	log.Debug("import done", "images", len(imgs))
	return nil
}
