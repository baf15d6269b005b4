/// Certificates for tests and benchmarks of the solver farm's TLS, made at run time with .NET's CertificateRequest
/// (a cluster CA and node certificates it signs) in a temporary folder; no key is ever committed.
module Imle.Tests.TestCertificates

open System
open System.IO
open System.Security.Cryptography
open System.Security.Cryptography.X509Certificates

/// A CA that signs node certificates, and the folder its files go to.
type TestCa =
    {
        Certificate: X509Certificate2
        Key: ECDsa
        Folder: string
        /// The CA's certificate as PEM (what nodes get as --ca).
        CaPath: string
    }

/// A new self-signed CA named `name`, its certificate written to `folder`/`name`-ca.pem.
let createCa (folder: string) (name: string) : TestCa =
    Directory.CreateDirectory folder |> ignore
    let key = ECDsa.Create(ECCurve.NamedCurves.nistP256)

    let req =
        CertificateRequest(sprintf "CN=%s test CA" name, key, HashAlgorithmName.SHA256)

    req.CertificateExtensions.Add(X509BasicConstraintsExtension(true, false, 0, true))

    req.CertificateExtensions.Add(
        X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign ||| X509KeyUsageFlags.CrlSign, true)
    )

    req.CertificateExtensions.Add(X509SubjectKeyIdentifierExtension(req.PublicKey, false))
    let now = DateTimeOffset.UtcNow
    let cert = req.CreateSelfSigned(now.AddDays -1.0, now.AddDays 30.0)
    let path = Path.Combine(folder, name + "-ca.pem")
    File.WriteAllText(path, cert.ExportCertificatePem())

    { Certificate = cert
      Key = key
      Folder = folder
      CaPath = path }

/// A node certificate for `name` signed by `ca` (client and server use, 127.0.0.1 and localhost), written to the CA's
/// folder as a PFX without password (`pem` false: returns the .pfx path and "") or as PEM certificate and key files
/// (`pem` true: returns both paths).
let issue (ca: TestCa) (name: string) (pem: bool) : string * string =
    use key = ECDsa.Create(ECCurve.NamedCurves.nistP256)
    let req = CertificateRequest(sprintf "CN=%s" name, key, HashAlgorithmName.SHA256)
    req.CertificateExtensions.Add(X509BasicConstraintsExtension(false, false, 0, true))
    req.CertificateExtensions.Add(X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true))

    let eku = OidCollection()
    eku.Add(Oid "1.3.6.1.5.5.7.3.1") |> ignore
    eku.Add(Oid "1.3.6.1.5.5.7.3.2") |> ignore
    req.CertificateExtensions.Add(X509EnhancedKeyUsageExtension(eku, false))
    let san = SubjectAlternativeNameBuilder()
    san.AddIpAddress Net.IPAddress.Loopback
    san.AddDnsName "localhost"
    req.CertificateExtensions.Add(san.Build())

    req.CertificateExtensions.Add(
        X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca.Certificate, true, false)
    )

    let now = DateTimeOffset.UtcNow
    let serial = RandomNumberGenerator.GetBytes 16
    serial.[0] <- serial.[0] &&& 0x7Fuy
    use signed = req.Create(ca.Certificate, now.AddDays -1.0, now.AddDays 30.0, serial)
    use withKey = signed.CopyWithPrivateKey key

    if pem then
        let certPath = Path.Combine(ca.Folder, name + ".pem")
        let keyPath = Path.Combine(ca.Folder, name + ".key")
        File.WriteAllText(certPath, withKey.ExportCertificatePem())
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem())
        certPath, keyPath
    else
        let path = Path.Combine(ca.Folder, name + ".pfx")
        File.WriteAllBytes(path, withKey.Export(X509ContentType.Pfx))
        path, ""

/// A fresh temporary folder for one run's certificates.
let tempFolder (prefix: string) =
    let d =
        Path.Combine(Path.GetTempPath(), sprintf "%s-%d-%s" prefix Environment.ProcessId (Guid.NewGuid().ToString "N"))

    Directory.CreateDirectory d |> ignore
    d
