using Microsoft.Extensions.Logging;
using OpenHgs.Crypto;
using OpenHgs.Crypto.Cluster;
using OpenHgs.Crypto.Pkcs11;
using OpenHgs.Crypto.Software;
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
        spec.Contains("password", StringComparison.OrdinalIgnoreCase)
            ? throw new HgsConfigurationException("database", "Do not put the database password in the connection string (it would be stored in hgs.json); use PGPASSWORD or a passfile.")
            : spec;

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
