using System.Security.Cryptography;
using System.Text;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;
using OpenHgs.Crypto;
using OpenHgs.Crypto.Pkcs11;

namespace OpenHgs.Testing;

/// <summary>
/// A freshly initialised SoftHSM2 token for a test class, with its PIN published in an environment variable so
/// that a <c>pkcs11:</c> key store URI can name it through <c>pin-source=env:...</c>.
/// </summary>
/// <remarks>
/// <para>Process-wide effects: the first token sets <c>SOFTHSM2_CONF</c> for the whole process (see
/// <see cref="SoftHsmEnvironment"/>): SoftHSM reads it when the module is first initialised, so all tokens of a
/// test process live in one shared configuration and token directory, each under its own label, initialised
/// through the process's single module instance (see <see cref="InitializeToken"/>). Each token also sets its own
/// PIN variable (<see cref="PinEnvironmentVariable"/>) process-wide, and clears it on Dispose.</para>
/// <para>If softhsm2 is not installed the constructor throws (tests fail, they are never skipped): run
/// <c>./test.sh</c>, which installs it.</para>
/// <para>Use as an xunit class fixture (<c>IClassFixture&lt;SoftHsmToken&gt;</c>) or create one per test.
/// Tokens are not deleted on Dispose (a module loaded in this process may still hold them open); the whole token
/// directory is deleted when the process exits (or by the next test process if this one was killed).</para>
/// </remarks>
public sealed class SoftHsmToken : IDisposable
{
    private static readonly Lock InitializationGate = new();

    /// <summary>Creates a token with a unique label (the only public constructor, as xunit fixtures need).</summary>
    public SoftHsmToken()
        : this(label: null)
    {
    }

    private SoftHsmToken(string? label)
    {
        SoftHsmEnvironment.EnsureInitialized();
        string suffix = RandomNumberGenerator.GetHexString(12, lowercase: false);
        TokenLabel = label ?? $"OpenHGS-test-{suffix}";
        Pin = RandomNumberGenerator.GetHexString(16, lowercase: true);
        SoPin = RandomNumberGenerator.GetHexString(16, lowercase: true);
        PinEnvironmentVariable = $"OPENHGS_TEST_HSM_PIN_{suffix}";

        if (Encoding.UTF8.GetByteCount(TokenLabel) > 32)
        {
            throw new ArgumentException("PKCS#11 token labels are at most 32 bytes.", nameof(label));
        }

        InitializeToken();
        Environment.SetEnvironmentVariable(PinEnvironmentVariable, Pin);
    }

    /// <summary>Creates a token labelled <paramref name="label"/> (at most 32 bytes, unique in this process).</summary>
    public static SoftHsmToken WithLabel(string label)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(label);
        return new SoftHsmToken(label);
    }

    /// <summary>The SoftHSM2 PKCS#11 module file.</summary>
    public string ModulePath => SoftHsmEnvironment.ModulePath;

    /// <summary>The token's label (CKA token label), used as <c>token=</c> in the URI.</summary>
    public string TokenLabel { get; }

    /// <summary>The user PIN.</summary>
    public string Pin { get; }

    /// <summary>The security officer PIN.</summary>
    public string SoPin { get; }

    /// <summary>The process environment variable holding <see cref="Pin"/>, named by the URI's <c>pin-source</c>.</summary>
    public string PinEnvironmentVariable { get; }

    /// <summary>
    /// <c>pkcs11:token=LABEL?module-path=MODULE&amp;pin-source=env:VAR</c> for this token.
    /// </summary>
    public string KeyStoreUri =>
        Crypto.KeyStoreUri.Create(
            Pkcs11KeyStoreProvider.SchemeName,
            [new("token", TokenLabel)],
            [new("module-path", ModulePath), new("pin-source", $"env:{PinEnvironmentVariable}")]).Text;

    /// <summary>An open context whose data directory is the shared SoftHSM directory (the pkcs11 store needs none).</summary>
    public KeyStoreOpenContext CreateOpenContext() => new(SoftHsmEnvironment.RootDirectory, Production: false);

    /// <summary>Opens a new key store on this token; the caller disposes it.</summary>
    public Pkcs11KeyStore OpenKeyStore() =>
        new Pkcs11KeyStoreProvider().OpenStore(Crypto.KeyStoreUri.Parse(KeyStoreUri), CreateOpenContext());

    /// <summary>
    /// Runs <c>pkcs11-tool --module M --token-label L --login --pin P ARGS</c> and returns its standard output,
    /// e.g. <c>RunPkcs11Tool("--list-objects")</c>. A failure throws with stderr (PINs masked).
    /// </summary>
    public string RunPkcs11Tool(params string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        string tool = ExternalTool.Locate("pkcs11-tool") ?? throw SoftHsmEnvironment.ToolMissing("pkcs11-tool (opensc)");
        return ExternalTool.Run(tool, ["--module", ModulePath, "--token-label", TokenLabel, "--login", "--pin", Pin, .. args], [Pin, SoPin]);
    }

    /// <summary>
    /// Generates on the token, under <paramref name="label"/>, an EC P-256 signing key pair whose private key is
    /// CKA_EXTRACTABLE and not CKA_SENSITIVE (its value readable in clear): what someone with the PIN could put under a
    /// key's label. Through Pkcs11Interop, because pkcs11-tool cannot make a private key that is not sensitive on SoftHSM.
    /// </summary>
    /// <returns>The pair's CKA_ID in hex, e.g. for <c>pkcs11-tool --delete-object --id</c>.</returns>
    public string GenerateExposedKeyPair(string label)
    {
        ArgumentNullException.ThrowIfNull(label);
        using var store = OpenKeyStore();
        byte[] id = RandomNumberGenerator.GetBytes(8);
        store.Sessions.Execute(session =>
        {
            var attributes = session.Factories.ObjectAttributeFactory;
            List<IObjectAttribute> publicTemplate =
            [
                attributes.Create(CKA.CKA_CLASS, CKO.CKO_PUBLIC_KEY), attributes.Create(CKA.CKA_TOKEN, true), attributes.Create(CKA.CKA_LABEL, label),
                attributes.Create(CKA.CKA_ID, id), attributes.Create(CKA.CKA_VERIFY, true), attributes.Create(CKA.CKA_KEY_TYPE, CKK.CKK_EC),
                attributes.Create(CKA.CKA_EC_PARAMS, Convert.FromHexString("06082A8648CE3D030107")), // OID 1.2.840.10045.3.1.7 (P-256)
            ];
            List<IObjectAttribute> privateTemplate =
            [
                attributes.Create(CKA.CKA_CLASS, CKO.CKO_PRIVATE_KEY), attributes.Create(CKA.CKA_TOKEN, true), attributes.Create(CKA.CKA_PRIVATE, true),
                attributes.Create(CKA.CKA_SENSITIVE, false), attributes.Create(CKA.CKA_EXTRACTABLE, true), attributes.Create(CKA.CKA_LABEL, label),
                attributes.Create(CKA.CKA_ID, id), attributes.Create(CKA.CKA_SIGN, true), attributes.Create(CKA.CKA_KEY_TYPE, CKK.CKK_EC),
            ];
            using IMechanism mechanism = session.Factories.MechanismFactory.Create(CKM.CKM_EC_KEY_PAIR_GEN);
            session.GenerateKeyPair(mechanism, publicTemplate, privateTemplate, out _, out _);
            foreach (var attribute in publicTemplate.Concat(privateTemplate))
            {
                attribute.Dispose();
            }

            return true;
        });
        return Convert.ToHexStringLower(id);
    }

    /// <summary>
    /// Does what <c>softhsm2-util --init-token --free --label L --pin P --so-pin S</c> does, but through this process's
    /// single instance of the module: SoftHSM scans its token directory only in C_Initialize, so a token that
    /// softhsm2-util adds after the module was loaded here stays invisible to every in-process store until the
    /// module is finalised, which cannot happen while other tests use it. C_InitToken on the free slot of the
    /// loaded module is seen at once, and the token is on disk for pkcs11-tool and other processes too.
    /// </summary>
    private void InitializeToken()
    {
        Pkcs11Module module = Pkcs11Module.Acquire(ModulePath);
        try
        {
            // Parallel fixtures must not pick the same free slot.
            lock (InitializationGate)
            {
                ISlot free = module.Library.GetSlotList(SlotsType.WithTokenPresent)
                    .FirstOrDefault(slot => !slot.GetTokenInfo().TokenFlags.TokenInitialized)
                    ?? throw new InvalidOperationException("SoftHSM offers no free slot to initialise a token in.");
                free.InitToken(SoPin, TokenLabel);
                using ISession session = free.OpenSession(SessionType.ReadWrite);
                session.Login(CKU.CKU_SO, SoPin);
                session.InitPin(Pin);
                session.Logout();
            }
        }
        finally
        {
            module.Release();
        }
    }

    /// <summary>Clears the PIN variable; the token itself stays until the process exits.</summary>
    public void Dispose() => Environment.SetEnvironmentVariable(PinEnvironmentVariable, null);
}
