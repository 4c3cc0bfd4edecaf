package service

import (
	"context"

	"github.com/lapps/lapps/matcher"
	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/vuln"
)

// match matches an image index against the current vulnerability data:
// the findings, the not-affected statements that applied, and warnings.
func (l *Local) match(ctx context.Context, idx *model.ImageIndex) ([]vuln.Finding, []vuln.NotAffected, []string, error) {
	r, err := matcher.MatchAll(ctx, l.st, idx)
	if err != nil {
		return nil, nil, nil, err
	}
	return r.Findings, r.NotAffected, r.Warnings, nil
}
