namespace Imle.Distributed

open System
open System.IO
open System.Security.Cryptography.X509Certificates
open Akka.Remote.Transport.DotNetty

/// Loading a node's certificate and the cluster CA, and the peer check Akka.NET's DotNetty transport calls on both
/// sides of every TLS handshake (with mutual authentication the server asks the client for its certificate too).
/// Only .NET's own X.509 chain validation is used: a chain built with the cluster CA as the one custom root.
module internal FarmCertificates =

    let private isPem (path: string) =
        File.ReadAllText(path).TrimStart().StartsWith("-----BEGIN", StringComparison.Ordinal)

    let private exists (field: string) (path: string) =
        if String.IsNullOrWhiteSpace path || not (File.Exists path) then
            invalidArg field (sprintf "%s: the file '%s' does not exist." field path)

    /// The node's certificate with its private key: PFX/PKCS#12, or PEM with the key in `Key` (or in the same file).
    let load (tls: FarmTls) : X509Certificate2 =
        exists "Tls.Certificate" tls.Certificate

        let password =
            if String.IsNullOrEmpty tls.Password then
                null
            else
                tls.Password

        let cert =
            try
                if isPem tls.Certificate then
                    let key = if String.IsNullOrWhiteSpace tls.Key then null else tls.Key

                    if not (isNull key) then
                        exists "Tls.Key" key

                    let pem =
                        if isNull password then
                            X509Certificate2.CreateFromPemFile(tls.Certificate, key)
                        else
                            X509Certificate2.CreateFromEncryptedPemFile(tls.Certificate, password, key)

                    // A PKCS#12 round trip gives the key a form every platform's TLS stack accepts.
                    use _ = pem
                    X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null)
                else
                    X509CertificateLoader.LoadPkcs12FromFile(tls.Certificate, password)
            with
            | :? ArgumentException -> reraise ()
            | e ->
                invalidArg
                    "Tls.Certificate"
                    (sprintf
                        "Could not read the certificate '%s' (a PFX with its password, or a PEM certificate with its PEM key): %s"
                        tls.Certificate
                        e.Message)

        if not cert.HasPrivateKey then
            invalidArg
                "Tls.Key"
                (sprintf
                    "The certificate '%s' comes without its private key (give the PEM key in Tls.Key, or a PFX)."
                    tls.Certificate)

        cert

    /// The cluster CA's certificate (PEM or DER).
    let loadCa (path: string) : X509Certificate2 =
        exists "Tls.CaCertificate" path

        try
            if isPem path then
                X509Certificate2.CreateFromPem(File.ReadAllText path)
            else
                X509CertificateLoader.LoadCertificateFromFile path
        with e ->
            invalidArg "Tls.CaCertificate" (sprintf "Could not read the CA certificate '%s': %s" path e.Message)

    /// Normalised thumbprints (upper-case hex, no separators).
    let normalise (thumbprint: string) =
        thumbprint.Replace(":", "").Replace(" ", "").ToUpperInvariant()

    /// Whether `cert` chains to `ca` alone (custom root trust; no system store, no revocation lookups); the chain's
    /// problems otherwise.
    let chainsTo (ca: X509Certificate2) (cert: X509Certificate2) : Result<unit, string> =
        use chain = new X509Chain()
        chain.ChainPolicy.TrustMode <- X509ChainTrustMode.CustomRootTrust
        chain.ChainPolicy.CustomTrustStore.Add ca |> ignore
        chain.ChainPolicy.RevocationMode <- X509RevocationMode.NoCheck
        chain.ChainPolicy.DisableCertificateDownloads <- true

        if chain.Build cert then
            Ok()
        else
            Error(String.Join("; ", chain.ChainStatus |> Array.map (fun s -> s.StatusInformation.Trim())))

    /// The peer check: a certificate, chaining to the CA (when one is given), with a pinned thumbprint (when pins
    /// are given), within its validity period. A refusal is logged with the peer and the reason.
    let validator (ca: X509Certificate2 option) (pins: Set<string>) : CertificateValidationCallback =
        CertificateValidationCallback(fun cert _ peer _ log ->
            let verdict =
                if isNull cert then
                    Error "it presented no certificate"
                else
                    let now = DateTime.Now

                    let trusted =
                        match ca with
                        | Some ca ->
                            match chainsTo ca cert with
                            | Ok() -> Ok()
                            | Error e ->
                                Error(
                                    sprintf "its certificate (%s) does not chain to the cluster CA: %s" cert.Subject e
                                )
                        | None when now < cert.NotBefore || now > cert.NotAfter ->
                            Error(sprintf "its certificate (%s) is outside its validity period" cert.Subject)
                        | None -> Ok()

                    trusted
                    |> Result.bind (fun () ->
                        if pins.IsEmpty || pins.Contains(normalise cert.Thumbprint) then
                            Ok()
                        else
                            Error(sprintf "its certificate (%s, %s) is not pinned" cert.Subject cert.Thumbprint))

            match verdict with
            | Ok() -> true
            | Error reason ->
                Akka.Event.LoggingExtensions.Warning(log, "Imle farm TLS: refused {0}: {1}.", peer, reason)
                false)

    /// Akka.NET's TLS setup for a node: its certificate, mutual authentication, chain validation on (no suppression),
    /// no host-name check (nodes are named by their certificates, reached by IP), and the peer check above.
    let setup (tls: FarmTls) : DotNettySslSetup =
        let cert = load tls

        let ca =
            if String.IsNullOrWhiteSpace tls.CaCertificate then
                None
            else
                Some(loadCa tls.CaCertificate)

        let pins =
            if isNull (box tls.PinnedThumbprints) then
                Set.empty
            else
                tls.PinnedThumbprints |> List.map normalise |> Set.ofList

        if ca.IsNone && pins.IsEmpty then
            invalidArg
                "Tls.CaCertificate"
                "TLS needs the cluster CA's certificate (Tls.CaCertificate) or pinned thumbprints."

        DotNettySslSetup(cert, false, true, false, validator ca pins)
