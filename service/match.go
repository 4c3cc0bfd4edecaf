package service

import (
	"context"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/matcher"
	"github.com/lapps/lapps/vuln"
)

// match matches an image index against the current vulnerability data.
func (l *Local) match(ctx context.Context, idx *indexer.ImageIndex) ([]vuln.Finding, []string, error) {
	return matcher.Match(ctx, l.st, idx)
}
