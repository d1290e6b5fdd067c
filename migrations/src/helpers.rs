//! Small helpers that keep the migrations short and uniform.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, big_integer_null};

/// A `CREATE TABLE IF NOT EXISTS` statement for `name`.
pub fn table(name: &'static str) -> TableCreateStatement {
    Table::create().table(name).if_not_exists().take()
}

/// A non-null millisecond timestamp column.
pub fn millis(name: &'static str) -> ColumnDef {
    big_integer(name)
}

/// A nullable millisecond timestamp column.
pub fn millis_null(name: &'static str) -> ColumnDef {
    big_integer_null(name)
}

/// A foreign key from `table.column` to `target.id`.
pub fn fk(
    table: &'static str,
    column: &'static str,
    target: &'static str,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_{column}"))
        .from(table, column)
        .to(target, "id")
        .on_delete(on_delete)
        .take()
}

/// An index named after its table and columns.
pub fn index(table: &'static str, columns: &[&'static str], unique: bool) -> IndexCreateStatement {
    let mut statement = Index::create();
    statement
        .name(format!("ix_{table}_{}", columns.join("_")))
        .table(table)
        .if_not_exists();
    for column in columns {
        statement.col(*column);
    }
    if unique {
        statement.unique();
    }
    statement.take()
}

/// Creates every table, then every index, in order.
pub async fn create_all(
    manager: &SchemaManager<'_>,
    tables: Vec<TableCreateStatement>,
    indexes: Vec<IndexCreateStatement>,
) -> Result<(), DbErr> {
    for statement in tables {
        manager.create_table(statement).await?;
    }
    for statement in indexes {
        manager.create_index(statement).await?;
    }
    Ok(())
}

/// Drops the named tables, in order (children before parents).
pub async fn drop_all(manager: &SchemaManager<'_>, tables: &[&'static str]) -> Result<(), DbErr> {
    for name in tables {
        manager
            .drop_table(Table::drop().table(*name).if_exists().take())
            .await?;
    }
    Ok(())
}
