/**
 * Intel's production trust anchor for TDX (and SGX) quotes: the Intel SGX Root CA, the root of
 * every PCK certificate, PCK CA, TCB Signing certificate and CRL Intel PCS serves.
 *
 * Published by Intel at https://certificates.trustedservices.intel.com/Intel_SGX_Provisioning_Certification_RootCA.pem;
 * the same certificate ships in go-tdx-guest `verify/trusted_root.pem` and tinfoil-verifier
 * `attestation/sgx_root_ca.pem` (both in `shared/vectors/attestation/tdx/`). ECDSA P-256,
 * valid 2018-05-21 .. 2049-12-31. Trusted only where a caller passes it as a root;
 * `verifyEvidence` does so by default for `tdx`.
 */
import { type Certificate, parseCertificates } from "../x509.ts";
import { utf8 } from "../../protocol/bytes.ts";

/** SHA-256 of the DER: checked when the anchor is loaded. */
export const INTEL_SGX_ROOT_CA_SHA256 =
  "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3";

export const INTEL_SGX_ROOT_CA_PEM = `-----BEGIN CERTIFICATE-----
MIICjzCCAjSgAwIBAgIUImUM1lqdNInzg7SVUr9QGzknBqwwCgYIKoZIzj0EAwIw
aDEaMBgGA1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENv
cnBvcmF0aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJ
BgNVBAYTAlVTMB4XDTE4MDUyMTEwNDUxMFoXDTQ5MTIzMTIzNTk1OVowaDEaMBgG
A1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENvcnBvcmF0
aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJBgNVBAYT
AlVTMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEC6nEwMDIYZOj/iPWsCzaEKi7
1OiOSLRFhWGjbnBVJfVnkY4u3IjkDYYL0MxO4mqsyYjlBalTVYxFP2sJBK5zlKOB
uzCBuDAfBgNVHSMEGDAWgBQiZQzWWp00ifODtJVSv1AbOScGrDBSBgNVHR8ESzBJ
MEegRaBDhkFodHRwczovL2NlcnRpZmljYXRlcy50cnVzdGVkc2VydmljZXMuaW50
ZWwuY29tL0ludGVsU0dYUm9vdENBLmRlcjAdBgNVHQ4EFgQUImUM1lqdNInzg7SV
Ur9QGzknBqwwDgYDVR0PAQH/BAQDAgEGMBIGA1UdEwEB/wQIMAYBAf8CAQEwCgYI
KoZIzj0EAwIDSQAwRgIhAOW/5QkR+S9CiSDcNoowLuPRLsWGf/Yi7GSX94BgwTwg
AiEA4J0lrHoMs+Xo5o/sX6O9QWxHRAvZUGOdRQ7cvqRXaqI=
-----END CERTIFICATE-----
`;

let anchor: Certificate | undefined;

/** The Intel SGX Root CA as a parsed certificate (its fingerprint checked once). */
export function intelSgxRootCa(): Certificate {
  if (!anchor) {
    const [cert] = parseCertificates(utf8(INTEL_SGX_ROOT_CA_PEM), "Intel SGX Root CA");
    if (cert.id !== INTEL_SGX_ROOT_CA_SHA256) {
      throw new Error(
        `embedded Intel SGX Root CA has SHA-256 ${cert.id}, not ${INTEL_SGX_ROOT_CA_SHA256}`,
      );
    }
    anchor = cert;
  }
  return anchor;
}
