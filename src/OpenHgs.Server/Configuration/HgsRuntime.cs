using Microsoft.Extensions.Logging;
using OpenHgs.Crypto;
using OpenHgs.Crypto.Cluster;
using OpenHgs.Crypto.Pkcs11;
using OpenHgs.Crypto.Software;
using OpenHgs.Service.KeyProtection;
using OpenHgs.Storage;
using OpenHgs.Storage.Postgres;
using OpenHgs.Storage.Sqlite;

namespace OpenHgs.Server.Configuration;

/// <summary>Opens the key store and database a data folder's configuration names.</summary>
public static class HgsRuntime
{
    /// <summary>
    /// Turns what an admin types for <c>--database</c> into a database spec: <c>sqlite:FILE</c>, a
    /// <c>postgresql://user@host:port/db</c> URL, or an Npgsql connection string. Passwords are refused: they
    /// would be written into hgs.json; use PGPASSWORD or a passfile.
    /// </summary>
    public static string DatabaseSpecFrom(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return "sqlite:hgs.db";
        }

        if (text.StartsWith("sqlite:", StringComparison.Ordinal) || text.StartsWith("postgres:", StringComparison.Ordinal) && !text.StartsWith("postgres://", StringComparison.Ordinal))
        {
            return RefusePassword(text);
        }

        if (text.StartsWith("postgresql://", StringComparison.Ordinal) || text.StartsWith("postgres://", StringComparison.Ordinal))
        {
            var uri = new Uri(text);
            if (uri.UserInfo.Contains(':', StringComparison.Ordinal))
            {
                throw new HgsConfigurationException("database", "Do not put the database password in the URL (it would be stored in hgs.json); use PGPASSWORD or a passfile.");
            }

            var builder = new Npgsql.NpgsqlConnectionStringBuilder
            {
                Host = uri.Host,
                Port = uri.IsDefaultPort || uri.Port <= 0 ? 5432 : uri.Port,
                Database = uri.AbsolutePath.Trim('/') is { Length: > 0 } db ? Uri.UnescapeDataString(db) : "openhgs",
            };
            if (uri.UserInfo.Length > 0)
            {
                builder.Username = Uri.UnescapeDataString(uri.UserInfo);
            }

            return "postgres:" + builder.ConnectionString;
        }

        if (text.Contains('=', StringComparison.Ordinal))
        {
            return RefusePassword("postgres:" + text);
        }

        throw new HgsConfigurationException("database", $"'{text}' is not a database: use sqlite:FILE, postgresql://user@host/db or Host=…;Database=…;Username=….");
    }

    private static string RefusePassword(string spec) =>
        spec.Contains("password", StringComparison.OrdinalIgnoreCase) || HasNpgsqlPassword(spec)
            ? throw new HgsConfigurationException("database", "Do not put the database password in the connection string (it would be stored in hgs.json); use PGPASSWORD or a passfile.")
            : spec;

    /// <summary>Npgsql also takes the password as <c>Pwd</c> or <c>Psw</c>: ask its own parser, not a substring.</summary>
    private static bool HasNpgsqlPassword(string spec)
    {
        const string Prefix = "postgres:";
        if (!spec.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return false;
        }

        try
        {
            return !string.IsNullOrEmpty(new Npgsql.NpgsqlConnectionStringBuilder(spec[Prefix.Length..]).Password);
        }
        catch (ArgumentException)
        {
            return false;   // not a connection string Npgsql reads: opening the database refuses it by name
        }
    }

    /// <summary>Every key store backend the service knows: <c>software</c>, <c>pkcs11</c> and <c>cluster</c> (of the other two).</summary>
    public static KeyStoreRegistry CreateKeyStoreRegistry(TimeProvider time) =>
        new([new SoftwareKeyStoreProvider(), new Pkcs11KeyStoreProvider(), new ClusterKeyStoreProvider([new SoftwareKeyStoreProvider(), new Pkcs11KeyStoreProvider()], time)]);

    /// <summary>
    /// Opens the key store the configuration names. It logs through <paramref name="loggers"/> for as long as it is
    /// open: a cluster's member transitions (down with the error, retries scheduled and failed, up again) and PKCS#11
    /// module loads.
    /// </summary>
    public static IKeyStore OpenKeyStore(HgsConfiguration configuration, string dataDirectory, bool production, ILoggerFactory loggers, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(loggers);
        ArgumentNullException.ThrowIfNull(time);
        return CreateKeyStoreRegistry(time).Open(configuration.KeyStore, new KeyStoreOpenContext(Path.GetFullPath(dataDirectory), production) { Loggers = loggers });
    }

    /// <summary>
    /// The release key handling when neither the configuration file nor the command line sets it: <c>hsm-only</c> in
    /// production and for a store that can re-wrap inside the HSM; <c>allow-memory</c> otherwise (the software store,
    /// for development).
    /// </summary>
    public static ReleaseKeyHandling DefaultReleaseKeyHandling(bool production, IKeyStore store) =>
        production || new TransportKeyHandling(ReleaseKeyHandling.AllowMemory, RewrapperOf(store)).CanRewrapAtAll
            ? ReleaseKeyHandling.HsmOnly
            : ReleaseKeyHandling.AllowMemory;

    /// <summary>
    /// How this node's key releases handle transport keys: <paramref name="overrideMode"/> (<c>hgs server run
    /// --release-key-handling</c>), else the configuration file's, else <see cref="DefaultReleaseKeyHandling"/>; with the
    /// store's HSM-native re-wrap, if it has one. In production, <c>hsm-only</c> with a store that cannot re-wrap at all
    /// refuses to start; elsewhere the node starts (for development and tests) and refuses every release with
    /// <c>TransportKeyHsmOnly</c>.
    /// </summary>
    /// <exception cref="HgsConfigurationException"><c>releaseKeyHandling</c>: hsm-only in production without a re-wrapping store.</exception>
    public static TransportKeyHandling TransportKeyHandlingFor(IKeyStore store, HgsConfiguration configuration, ReleaseKeyHandling? overrideMode, bool production)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(configuration);
        ReleaseKeyHandling mode = overrideMode ?? configuration.ReleaseKeyHandlingMode ?? DefaultReleaseKeyHandling(production, store);
        var handling = new TransportKeyHandling(mode, RewrapperOf(store));
        if (production && mode == ReleaseKeyHandling.HsmOnly && !handling.CanRewrapAtAll)
        {
            throw new HgsConfigurationException("releaseKeyHandling",
                $"releaseKeyHandling is hsm-only, but the {store.Kind} key store cannot re-wrap transport keys inside the HSM, so this node could release nothing. "
                + "Use an HSM that can (docs/security.md), or set release-key-handling allow-memory deliberately.");
        }

        return handling;
    }

    /// <summary>The store's in-HSM re-wrap capability, or null: the one place that asks a store for it (the composition root).</summary>
    private static ITransportKeyRewrapper? RewrapperOf(IKeyStore store) => store as ITransportKeyRewrapper;

    /// <summary>
    /// Database from its spec: <c>sqlite:FILE</c> (relative to the data folder), or <c>postgres:CONNECTION-STRING</c>
    /// (Npgsql keywords; the password comes from PGPASSWORD or a passfile, never from the configuration). Its
    /// security-relevant rows are MACed and checked with <paramref name="rows"/> (the key store's row-MAC key).
    /// </summary>
    public static IHgsDatabase OpenDatabase(HgsConfiguration configuration, string dataDirectory, TimeProvider time, IRowAuthenticator rows)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        string spec = configuration.Database;
        if (spec.StartsWith("sqlite:", StringComparison.Ordinal))
        {
            return new SqliteDatabase(Path.GetFullPath(spec["sqlite:".Length..], dataDirectory), time, rows);
        }

        if (spec.StartsWith("postgres:", StringComparison.Ordinal))
        {
            return new PostgresDatabase(spec["postgres:".Length..], time, rows);
        }

        throw new HgsConfigurationException("database", $"Unknown database '{spec}': use sqlite:FILE or postgres:Host=…;Database=…;Username=….");
    }
}
