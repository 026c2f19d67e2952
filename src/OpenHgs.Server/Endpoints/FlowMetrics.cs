using OpenHgs.Service.Observability;

namespace OpenHgs.Server.Endpoints;

/// <summary>Counts and times one attestation or key release by the answer it gets: the verdict's, or the problem the request is refused with.</summary>
internal static class FlowMetrics
{
    /// <summary>
    /// Runs <paramref name="run"/>; an answer is recorded with the outcome and code <paramref name="answered"/> names,
    /// an exception with the code <see cref="ProblemMiddleware"/> answers it with (<c>refused</c> below 500, else <c>error</c>).
    /// </summary>
    public static async Task<T> MeasureAsync<T>(
        HgsMetrics metrics, Action<string, string, TimeSpan> record, Func<Task<T>> run, Func<T, (string Outcome, string Code)> answered)
    {
        long start = metrics.Start();
        T result;
        try
        {
            result = await run().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            var (status, code, _) = ProblemMiddleware.Classify(ex);
            record(status >= 500 ? HgsMetrics.Outcomes.Error : HgsMetrics.Outcomes.Refused, code, metrics.Since(start));
            throw;
        }

        var (outcome, answeredCode) = answered(result);
        record(outcome, answeredCode, metrics.Since(start));
        return result;
    }
}
