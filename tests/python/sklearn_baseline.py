"""scikit-learn on the very rows a Slipway training run held out.

Reads a dataset file, the run's `split.json` (which rows trained, validated and tested the
model) and the dataset version's column types, fits scikit-learn models on the training and
validation rows with preprocessing like Slipway's, scores them on the test rows, and prints
the metrics as one JSON object:

    python sklearn_baseline.py DATA.csv split.json columns.json classification|regression

`columns.json` is the version's `schema.columns` (`name`, `type`) as the server reports it.
Classification: logistic regression and histogram gradient boosting, by accuracy.
Regression: ridge and histogram gradient boosting, by RMSE (and R²).
Both: the training rows' majority class or mean, as the baseline.
"""

import csv
import json
import sys

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

SEED = 0


def labelled_rows(path, label):
    """The data rows that have a label, in file order: what split.json's indices count."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        at = header.index(label)
        rows = [row for row in reader if row and not (len(row) == 1 and row[0] == "")]
    return header, [row for row in rows if row[at].strip() != ""]


def number(cell):
    cell = cell.strip()
    return float(cell) if cell else np.nan


def boolean(cell):
    cell = cell.strip().lower()
    if not cell:
        return np.nan
    return 1.0 if cell in ("true", "yes") else 0.0


def date_parts(cell):
    """Year, month and day-of-year fraction, as Slipway reads a date."""
    cell = cell.strip()
    if not cell:
        return [np.nan] * 3
    year, month, day = (int(part) for part in cell[:10].split("-"))
    day_of_year = (np.datetime64(cell[:10]) - np.datetime64(f"{year}-01-01")).astype(int)
    return [float(year), float(month), day_of_year / 365.0]


def features(header, rows, columns):
    """Numeric matrix (numbers, booleans, date parts) and category matrix, by column type."""
    numeric, categorical = [], []
    for column in columns:
        at = header.index(column["name"])
        kind = column["type"]
        if kind == "numeric":
            numeric.append([[number(row[at])] for row in rows])
        elif kind == "boolean":
            numeric.append([[boolean(row[at])] for row in rows])
        elif kind == "datetime":
            numeric.append([date_parts(row[at]) for row in rows])
        elif kind == "categorical":
            categorical.append([row[at].strip() or "(missing)" for row in rows])
        # identifier and label columns are not inputs
    numbers = np.hstack([np.array(part, dtype=float) for part in numeric]) if numeric else None
    categories = np.array(categorical, dtype=object).T if categorical else None
    return numbers, categories


def preprocessing(numbers, categories):
    """Median imputation with missing indicators and standardisation for numbers; one-hot
    over the training levels (unknown levels ignored) for categories."""
    parts = []
    width = 0 if numbers is None else numbers.shape[1]
    if numbers is not None:
        parts.append(
            (
                "numbers",
                make_pipeline(
                    # The columns travel as objects beside the categories' text.
                    FunctionTransformer(lambda part: part.astype(float)),
                    SimpleImputer(strategy="median", add_indicator=True), StandardScaler()
                ),
                list(range(width)),
            )
        )
    if categories is not None:
        parts.append(
            (
                "categories",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                list(range(width, width + categories.shape[1])),
            )
        )
    return ColumnTransformer(parts)


def main():
    data_path, split_path, columns_path, task = sys.argv[1:5]
    regression = task == "regression"
    with open(split_path, encoding="utf-8") as handle:
        split = json.load(handle)
    with open(columns_path, encoding="utf-8") as handle:
        columns = json.load(handle)
    label = split["label"]
    header, rows = labelled_rows(data_path, label)
    numbers, categories = features(header, rows, columns)
    parts = [p for p in (numbers, categories) if p is not None]
    matrix = np.hstack([p.astype(object) for p in parts])
    at = header.index(label)
    labels = [row[at].strip() for row in rows]
    # Fitted on every row that is not a test row: the training and validation rows.
    fit = sorted(split["train"] + split["validation"])
    test = split["test"]
    if regression:
        y = np.array([float(value) for value in labels])
    else:
        y = np.array(labels, dtype=object)
    x_fit, y_fit, x_test, y_test = matrix[fit], y[fit], matrix[test], y[test]

    def fitted(model):
        return make_pipeline(preprocessing(numbers, categories), model).fit(x_fit, y_fit)

    result = {"label": label, "fit_rows": len(fit), "test_rows": len(test), "models": {}}
    if regression:
        mean = float(np.mean(y[split["train"]]))
        result["baseline_rmse"] = _rmse(np.full(len(test), mean), y_test)
        models = {
            "ridge": Ridge(alpha=1.0),
            "gradient_boosting": HistGradientBoostingRegressor(random_state=SEED),
        }
        for name, model in models.items():
            predicted = fitted(model).predict(x_test)
            total = float(np.sum((y_test - np.mean(y_test)) ** 2))
            result["models"][name] = {
                "rmse": _rmse(predicted, y_test),
                "r2": 1.0 - float(np.sum((y_test - predicted) ** 2)) / total,
            }
    else:
        values, counts = np.unique(y[split["train"]].astype(str), return_counts=True)
        majority = values[int(np.argmax(counts))]
        result["baseline_accuracy"] = float(np.mean(y_test.astype(str) == majority))
        models = {
            "logistic_regression": LogisticRegression(max_iter=5000),
            "gradient_boosting": HistGradientBoostingClassifier(random_state=SEED),
        }
        for name, model in models.items():
            predicted = fitted(model).predict(x_test)
            result["models"][name] = {"accuracy": float(np.mean(predicted == y_test))}
    print(json.dumps(result))


def _rmse(predicted, actual):
    return float(np.sqrt(np.mean((np.asarray(predicted, dtype=float) - actual) ** 2)))


if __name__ == "__main__":
    main()
