package cyclonedx

import "github.com/lapps/lapps/report/internal/sbom"

// ImagePURLForTest exposes the image purl to the external tests.
var ImagePURLForTest = sbom.ImagePURL
