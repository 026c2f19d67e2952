using OpenHgs.Server.Configuration;

namespace OpenHgs.EndToEnd.Tests.Configuration;

/// <summary>
/// <c>--database</c> never carries the password into <c>hgs.json</c> (design change 77): the connection string is asked
/// of Npgsql's own parser, which also reads the password under <c>Pwd</c> and <c>Psw</c>, not searched for the word.
/// </summary>
public sealed class DatabaseSpecTests
{
    [Theory]
    [Trait("Attack", "A132")]
    [InlineData("Host=db.example;Username=hgs;Pwd=secret")]
    [InlineData("Host=db.example;Username=hgs;PSW=secret")]
    [InlineData("Host=db.example;Username=hgs; pwd = secret")]
    [InlineData("postgres:Host=db.example;Username=hgs;Pwd=secret")]
    [InlineData("Host=db.example;Username=hgs;Password=secret")]
    [InlineData("postgresql://hgs:secret@db.example/openhgs")]
    public void A_password_under_any_name_npgsql_reads_is_refused(string text)
    {
        var refused = Assert.Throws<HgsConfigurationException>(() => HgsRuntime.DatabaseSpecFrom(text));

        Assert.Equal("database", refused.Field);
        Assert.Contains("use PGPASSWORD or a passfile", refused.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", refused.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Host=db.example;Username=hgs;Database=openhgs", "postgres:Host=db.example;Username=hgs;Database=openhgs")]
    [InlineData("Host=db.example;Username=hgs;Passfile=/etc/hgs/pgpass", "postgres:Host=db.example;Username=hgs;Passfile=/etc/hgs/pgpass")]
    [InlineData("sqlite:hgs.db", "sqlite:hgs.db")]
    public void Connection_strings_without_a_password_are_kept_as_given(string text, string spec)
    {
        Assert.Equal(spec, HgsRuntime.DatabaseSpecFrom(text));
    }
}
